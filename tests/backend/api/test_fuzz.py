"""Every operation of /openapi.json fuzzed by schemathesis: valid and invalid inputs generated from
the document. No answer may be a 5xx (503 from a dependency that is down excepted: none is here),
break its declared schema, status code or content type, and nothing may be logged as a server
error. The generation is derandomized (a fixed seed per operation), so a failure repeats as is.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import os
from collections.abc import Iterator

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.backend.conftest import ADMIN_TOKEN
from tests.pictures import picture_bytes

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Examples per operation, generation mode (valid, invalid) and database: about a minute in all here.
EXAMPLES = int(os.environ.get("VITRINE_FUZZ_EXAMPLES", "100"))


@schemathesis.serializer("application/x-ndjson")
def ndjson(_context: object, value: object) -> bytes:
    """Bulk bodies: a generated string as it is, anything else as one JSON line."""
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


@pytest.fixture
def fuzzed_app(app: Flask) -> Iterator[Flask]:
    """The app over a small synced catalog (ids 1-3 exist, product 1 has a photo), on each database."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for n in range(3):
        product = {"sku": f"F-{n}", "name": f"Mug {n}", "category": "mugs", "price": 5 + n, "currency": "EUR"}
        assert client.post("/admin/products", json=product, headers=headers).status_code == 201
    photo = {"image": (io.BytesIO(picture_bytes((200, 40, 40))), "mug.jpg")}
    assert client.post("/admin/products/1/images", data=photo, headers=headers).status_code == 201
    assert client.post("/admin/sync", headers=headers).status_code == 200
    yield app


def test_every_operation_survives_fuzzing(fuzzed_app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", fuzzed_app)
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation, mode in itertools.product(operations, GenerationMode):

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:
            caplog.clear()
            case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, checks=CHECKS)
            errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
            assert not errors, errors

        try:
            fuzz()
        except Unsatisfiable:
            continue  # no invalid request exists for this operation (GET /health takes no input)
        except (
            Exception,
            BaseExceptionGroup,
        ) as error:  # every operation is fuzzed; all failures are reported at the end
            failures[f"{operation.label} ({mode.value})"] = f"{type(error).__name__}: {str(error)[:1500]}"
    assert not failures, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())
