"""Transports behind one interface (httpx style): base, fast (httptools), httpx, mock."""
