"""The published OpenAPI 3 schema: generated without warnings, valid, complete, and readable offline."""

import json
import re

import pytest
import yaml
from django.core.management import call_command
from django.urls import get_resolver

pytestmark = pytest.mark.django_db

ERROR_BODY = "#/components/schemas/ApiError"


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker):
    """The schema as `manage.py spectacular --validate --fail-on-warn` writes it (raises on any warning)."""
    path = tmp_path_factory.mktemp("schema") / "openapi.yaml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_api_route_is_described(schema):
    routes = set()
    for pattern in get_resolver().url_patterns:
        if str(pattern.pattern) == "api/v1/":
            for sub in pattern.url_patterns:
                route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(sub.pattern))
                if not route.startswith(("schema", "docs")):
                    routes.add("/api/v1/" + route)
    # The /fhir/ twins are the same operations (docs/api.md): each must twin a described route.
    twins = {r for r in routes if r.startswith("/api/v1/fhir/")}
    # The FHIR REST API (metadata, .well-known, /fhir/<ResourceType>) is described by its own
    # CapabilityStatement (docs/fhir.md): each of its resource routes must be a type it declares.
    fhir_api = {r for r in twins if re.match(r"/api/v1/fhir/([A-Z]|metadata$|\.well-known/)", r)}
    twins -= fhir_api
    from clinicapi.fhir_views import SERVED

    assert {r.split("/")[4] for r in fhir_api if r.split("/")[4][0].isupper()} == set(SERVED)
    assert routes and routes - twins - fhir_api == set(schema["paths"])
    assert twins and {t.replace("/fhir/", "/", 1) for t in twins} <= set(schema["paths"])


def test_every_operation_has_an_example_and_documented_errors(schema):
    for path, method, operation in operations(schema):
        success = [code for code in operation["responses"] if code.startswith("2")]
        assert success, (method, path)
        for code in success:
            content = operation["responses"][code]["content"]["application/json"]
            assert content.get("examples"), f"{method} {path} {code} has no example"
        if path.endswith("auth/token"):
            continue
        assert operation["security"] == [{"bearerAuth": []}], (method, path)
        for code in ("401", "429"):
            assert operation["responses"][code]["content"]["application/json"]["schema"]["$ref"] == ERROR_BODY


def test_scopes_are_stated_and_insufficient_scope_documented(schema):
    medication = schema["paths"]["/api/v1/patients/{patient_id}/medication"]["get"]

    assert "`medication.read`" in medication["description"]
    assert medication["responses"]["403"]["content"]["application/json"]["schema"]["$ref"] == ERROR_BODY
    assert "403" not in schema["paths"]["/api/v1/whoami"]["get"]["responses"]  # needs no scope


def test_token_endpoint_is_a_form_post_with_oauth_errors_and_no_bearer(schema):
    token = schema["paths"]["/api/v1/auth/token"]["post"]

    assert list(token["requestBody"]["content"]) == ["application/x-www-form-urlencoded"]
    assert token["security"] == []
    assert (
        token["responses"]["400"]["content"]["application/json"]["schema"]["$ref"]
        == "#/components/schemas/TokenError"
    )
    form = schema["components"]["schemas"]["TokenRequest"]
    assert {"grant_type", "client_assertion_type", "client_assertion", "scope"} <= set(form["required"])
    bearer = schema["components"]["securitySchemes"]["bearerAuth"]
    assert (
        bearer["type"] == "http"
        and bearer["scheme"] == "bearer"
        and "/api/v1/auth/token" in bearer["description"]
    )


def test_fhir_representation_is_offered_where_served(schema):
    fhir_paths = {
        path
        for path, method, op in operations(schema)
        if "application/fhir+json" in op["responses"].get("200", {}).get("content", {})
    }

    assert fhir_paths == {
        "/api/v1/patients",
        "/api/v1/patients/{patient_id}/eligibility",
        "/api/v1/requery",
        "/api/v1/patients/{patient_id}/medication",
        "/api/v1/patients/{patient_id}/treatment",
        "/api/v1/patients/{patient_id}/checkups",
    }


def test_schema_is_served_as_yaml_and_json(client):
    as_yaml = client.get("/api/v1/schema")
    as_json = client.get("/api/v1/schema", {"format": "json"})

    assert as_yaml.status_code == 200 and "openapi" in as_yaml["Content-Type"]
    assert yaml.safe_load(as_yaml.content)["openapi"].startswith("3.")
    assert json.loads(as_json.content)["info"]["title"] == "HomeConsent institutions' API"


@pytest.mark.parametrize("page", ["/api/v1/docs", "/api/v1/docs/try"])
def test_docs_pages_load_everything_from_this_site(client, page):
    response = client.get(page)
    html = response.content.decode()

    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html), "an external URL in the docs page"
    assert "script-src 'self';" in response["Content-Security-Policy"]
    assert "<script>" not in html  # every script is a file of this site, as the CSP requires
    assets = re.findall(r'(?:src|href)="(/(?:static|api)/[^"]+)"', html)
    assert any(a.endswith(".js") or "script" in a for a in assets)
    for asset in assets:
        assert client.get(asset.replace("&amp;", "&")).status_code == 200, asset


def _text_properties(schema, components, seen=()):
    """(name, property) of every string property a request body may hold, through refs and oneOf/anyOf."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return
        schema, seen = components[name], (*seen, name)
    for name, prop in schema.get("properties", {}).items():
        if prop.get("type") == "string" and "enum" not in prop:
            yield name, prop
        for part in prop.get("oneOf", []) + prop.get("allOf", []):
            if part.get("type") == "string":
                yield name, part
        if "items" in prop:
            yield from _text_properties(prop["items"], components, seen)
    for part in schema.get("oneOf", []) + schema.get("anyOf", []) + schema.get("allOf", []):
        yield from _text_properties(part, components, seen)


def test_every_text_input_refuses_nul_as_the_server_does(schema):
    # given every request body's text fields (DRF refuses a NUL character in any of them)
    components = schema["components"]["schemas"]
    bodies = [
        media["schema"]
        for _, _, operation in operations(schema)
        for media in operation.get("requestBody", {}).get("content", {}).values()
    ]
    fields = [field for body in bodies for field in _text_properties(body, components)]
    # then each states a pattern, and no pattern allows a NUL
    assert {"name", "symbol", "number", "reason_text", "address", "client_id"} <= {n for n, _ in fields}
    for name, prop in fields:
        pattern = prop.get("pattern")
        assert pattern, name
        assert not any(re.search(pattern, text) for text in ("\x00", "a\x00", "1\x00", "\x002024-01-01")), (
            name
        )
