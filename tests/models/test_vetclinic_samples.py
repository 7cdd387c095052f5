"""The four sample inputs in samples/vetclinic/ load with their models and say what they are meant to."""

from __future__ import annotations

from pathlib import Path

from sk_loadagent.models import (
    CustomWeighting,
    EditionConfig,
    ServiceMetadata,
    StudioAnnotations,
    load_document,
    read_document,
)

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "vetclinic"


def test_service_metadata() -> None:
    meta = load_document(SAMPLES / "service.metadata.yaml", ServiceMetadata)
    endpoint = meta.default_endpoint()
    assert endpoint is not None
    assert (meta.module, endpoint.path, endpoint.method) == ("CheckoutService", "/checkout/submit", "POST")
    assert meta.cpu_quota_cores() == 1
    dumped = meta.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert dumped == read_document(SAMPLES / "service.metadata.yaml")


def test_edition_config() -> None:
    config = load_document(SAMPLES / "edition.config.json", EditionConfig)
    assert [e.edition_id for e in config.editions][:2] == ["vetclinic", "vetclinic-premium"]
    for edition in ("vetclinic", "vetclinic-premium"):
        limits = config.slo_limits(edition)
        assert limits is not None
        assert limits.latency_limit("p95") is not None
        assert config.enables(edition, "load")
        assert config.enables(edition, "spike")
    assert config.model_dump(mode="json", by_alias=True, exclude_unset=True) == read_document(
        SAMPLES / "edition.config.json"
    )


def test_studio_annotations_leave_the_demo_tests_alone() -> None:
    doc = load_document(SAMPLES / "studio.annotation.yaml", StudioAnnotations)
    for test_type in ("load", "spike"):
        assert doc.overrides_for("CheckoutService", "vetclinic", test_type) is None
        flags = doc.flags_for("CheckoutService", "vetclinic", test_type)
        assert not flags.exclude_from_gate
        assert not flags.exclude_from_score
        assert not flags.exploratory
        assert not flags.retry_on_fail
        assert flags.override_status is None
    assert doc.requested_tests("CheckoutService", "vetclinic-premium") == ["soak"]
    soak = doc.overrides_for("CheckoutService", "vetclinic-premium", "soak")
    assert soak is not None
    assert soak.latency_limit("p95") == 750
    assert doc.flags_for("NotificationService", "vetclinic", "load").ignore == frozenset({"cpu"})


def test_custom_weighting() -> None:
    doc = load_document(SAMPLES / "customWeighting.yaml", CustomWeighting)
    assert {e.module_id for e in doc.weightings} == {
        "CheckoutService",
        "NotificationService",
        "AppointmentsService",
    }
    assert doc.matching("CheckoutService", "vetclinic", "load") == []
    assert doc.model_dump(mode="json", by_alias=True, exclude_unset=True) == read_document(
        SAMPLES / "customWeighting.yaml"
    )
