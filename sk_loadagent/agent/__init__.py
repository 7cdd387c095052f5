"""The agent on top of the skills: it plans its own runs.

- ``designer`` (with ``openapi`` and ``bodies``): a commented test-suite plan from an OpenAPI document, the
  service metadata, the edition and memory, with no LLM (``sk-loadagent design``);
- ``planner`` (with ``plugin``, ``session`` and ``guard``): a ChatCompletionAgent over the ``LoadAgent``
  plugin, inside host-side guard rails (``sk-loadagent agent``);
- ``mcp_server``: the skills and the plugin over MCP (``sk-loadagent mcp``);
- ``listener`` (with ``buses`` and ``ledger``): runs for other agents' events on NATS or RabbitMQ
  (``sk-loadagent listen``).

Semantic Kernel is imported by the planner, plugin, guard and MCP modules only; the designer needs none.
"""
