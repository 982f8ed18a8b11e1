"""The OpenAPI 3 document at ``/api/openapi.json``, generated from the marshmallow schemas."""

from __future__ import annotations

from functools import cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Response, jsonify
from marshmallow import Schema

from .. import audit_schemas, schemas

bp = Blueprint("openapi", __name__)

PROBLEM = {
    "description": "A problem (RFC 9457)",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
SITE = {"name": "site", "in": "path", "required": True, "schema": {"type": "string"}}
CONSENT_ID = {"name": "consent_id", "in": "path", "required": True,
              "schema": {"type": "string", "format": "uuid"}}


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def _query(schema: type[Schema]) -> dict[str, Any]:
    # The MarshmallowPlugin expands this into one parameter per field, named by its data_key,
    # so the documented parameters are the ones the endpoint loads.
    return {"in": "query", "schema": schema}


def _paths() -> dict[str, dict[str, Any]]:
    return {
        "/api/v1/sites/{site}/config": {"get": {
            "summary": "The banner config of a site in one language",
            "parameters": [SITE, _query(schemas.ConfigQuerySchema)],
            "responses": {"200": {"description": "The config; its ETag is the revision"},
                          "304": {"description": "Not modified"}, "404": PROBLEM, "422": PROBLEM},
        }},
        "/api/v1/sites/{site}/consents": {"post": {
            "summary": "Record a visitor's decision",
            "parameters": [SITE],
            "requestBody": {"required": True, "content": _json("ConsentRequest")},
            "responses": {"201": {"description": "Recorded", "content": _json("ConsentResponse")},
                          **{code: PROBLEM for code in ("400", "404", "409", "413", "415", "422", "429")}},
        }},
        "/api/v1/sites/{site}/consents/{consent_id}": {"get": {
            "summary": "A consent and every event of it (receipt as Bearer token)",
            "parameters": [SITE, CONSENT_ID], "security": [{"receipt": []}],
            "responses": {"200": {"description": "The record", "content": _json("ConsentRecord")},
                          "401": PROBLEM},
        }, "delete": {
            "summary": "Erase the consent's pseudonymous fields (receipt as Bearer token)",
            "parameters": [SITE, CONSENT_ID], "security": [{"receipt": []}],
            "responses": {"204": {"description": "Erased; the log keeps the fields' digests"},
                          "401": PROBLEM},
        }},
        "/api/v1/sites/{site}/consents/{consent_id}/status": {"get": {
            "summary": "Whether a consent still counts",
            "parameters": [SITE, CONSENT_ID],
            "responses": {"200": {"description": "Status", "content": _json("ConsentStatus")},
                          "404": PROBLEM},
        }},
        **_audit_paths(),
    }


def _audit_paths() -> dict[str, dict[str, Any]]:
    admin = {"security": [{"admin_token": []}]}
    consent = {"parameters": [SITE, CONSENT_ID], **admin}
    return {
        "/api/v1/admin/sites/{site}/consents/export": {"get": {
            "summary": "Stream the consent log as CSV or NDJSON (auditor or admin token)",
            "parameters": [SITE, _query(audit_schemas.ExportQuerySchema)], **admin,
            "responses": {"200": {"description": "text/csv or application/x-ndjson, streamed"},
                          **{code: PROBLEM for code in ("401", "403", "404", "422")}},
        }},
        "/api/v1/admin/sites/{site}/stats": {"get": {
            "summary": "Decisions per action and opt-in rates per purpose and vendor, per bucket",
            "parameters": [SITE, _query(audit_schemas.StatsQuerySchema)], **admin,
            "responses": {"200": {"description": "Buckets", "content": _json("Stats")},
                          **{c: PROBLEM for c in ("401", "403", "404", "422")}},
        }},
        "/api/v1/admin/sites/{site}/consents/{consent_id}": {
            "get": {"summary": "A consent and its events, on the visitor's request (admin)",
                    **consent, "responses": {
                        "200": {"description": "The record", "content": _json("ConsentRecord")},
                        **{c: PROBLEM for c in ("401", "403", "404")}}},
            "delete": {"summary": "Erase a consent's pseudonymous fields (admin)", **consent,
                       "responses": {"204": {"description": "Erased"},
                                     **{c: PROBLEM for c in ("401", "403", "404")}}},
        },
        "/api/v1/sites/{site}/consents/{consent_id}/receipt": {"get": {
            "summary": "The signed consent receipt (receipt as Bearer token); ?format=text",
            "parameters": [SITE, CONSENT_ID], "security": [{"receipt": []}],
            "responses": {"200": {"description": "The receipt document"}, "401": PROBLEM},
        }},
        "/api/v1/receipts/verify": {"post": {
            "summary": "Whether a receipt document was issued by this service, unchanged",
            "responses": {"200": {"description": "Whether it is valid",
                                  "content": _json("Verified")},
                          "400": PROBLEM, "415": PROBLEM},
        }},
    }


def _choice_map(_converter: Any, field: Any, **_: Any) -> dict[str, Any]:
    """ids to booleans, as ``ChoiceMap`` loads them."""
    if not isinstance(field, schemas.ChoiceMap):
        return {}
    return {"additionalProperties": {"type": "boolean"}, "maxProperties": field.max_items}


@cache
def build_spec() -> dict[str, Any]:
    """The whole document, built once per process."""
    marshmallow = MarshmallowPlugin()
    spec = APISpec(title="cmp", version="1", openapi_version="3.0.3", plugins=[marshmallow])
    marshmallow.map_to_openapi_type(schemas.PageUrl, "string", "uri")
    marshmallow.map_to_openapi_type(schemas.ChoiceMap, "object", None)
    marshmallow.converter.add_attribute_function(_choice_map)  # type: ignore[union-attr]
    for name, schema in (
        ("ConsentRequest", schemas.ConsentRequestSchema),
        ("ConsentResponse", schemas.ConsentResponseSchema),
        ("ConsentRecord", schemas.ConsentRecordSchema),
        ("ConsentStatus", schemas.ConsentStatusSchema),
        ("ConfigQuery", schemas.ConfigQuerySchema),
        ("ExportQuery", audit_schemas.ExportQuerySchema),
        ("StatsQuery", audit_schemas.StatsQuerySchema),
        ("Stats", audit_schemas.StatsSchema),
        ("Verified", audit_schemas.VerifiedSchema),
    ):
        spec.components.schema(name, schema=schema)
    spec.components.schema("Problem", {"type": "object", "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "errors": {"type": "object"},
    }})
    spec.components.security_scheme("receipt", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme("admin_token", {"type": "http", "scheme": "bearer"})
    for path, operations in _paths().items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@bp.get("/api/openapi.json")
def openapi_document() -> Response:
    return jsonify(build_spec())
