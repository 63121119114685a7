"""Each endpoint's OpenAPI request schema agrees with the endpoint on what it accepts and refuses.

The schema of each request body is walked from a full valid request: every required property
removed, an unknown key added where additionalProperties is false, each enum value and each
bound tried, a value of the wrong type, a name that breaks its pattern. Each variant is judged by
the schema (jsonschema, over the served document) and posted to the endpoint: a variant the
schema accepts must get past the envelope (200, or a refusal of the program's meaning), and one
it refuses must be a 422 naming the variant's code and pointer. The inputs' tensors and the
statements have their own schema tests (test_openapi, tests/engine/test_parse).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOC = "urn:gradtape:openapi"
REF = "#/components/schemas/"
ENGINE_OWNED = {"Input", "Statement"}  # validated by the engine's readers, tested elsewhere
ENVELOPE_CODES = {"unknown_key", "missing_key", "bad_name", "bad_value"}
X = {"data": [1.0, 2.0], "variable": True}
PROGRAM = [
    {"tape": "t", "persistent": True, "watch": ["x"], "body": [
        {"op": "multiply", "args": ["x", "x"], "out": "y"},
        {"op": "sum", "args": ["y"], "out": "loss"},
    ]},
    {"gradient": "t", "target": "loss", "sources": "x", "out": "g"},
]  # fmt: skip
RUN = {
    "inputs": {"x": X},
    "program": PROGRAM,
    "outputs": ["loss", "g"],
    "options": {"encoding": "json"},
}
# Full requests: every optional object present, so that the walk reaches its properties.
BASES = {
    "/v1/run": RUN,
    "/v1/check": {**RUN, "check": {"eps": 1e-6, "rtol": 1e-5, "atol": 1e-6}},
    "/v1/minimize": {
        "inputs": {"x": X},
        "program": PROGRAM,
        "loss": "loss",
        "variables": ["x"],
        "optimizer": {"name": "sgd", "learning_rate": 0.1, "momentum": 0.5, "nesterov": True},
        "steps": 2,
        "stop": {"grad_norm": 1e-9, "loss_delta": 0.0},
        "options": {"encoding": "json"},
    },
}


@dataclass
class Variant:
    what: str
    request: dict[str, Any]
    pointer: str
    code: str | None = None  # the refusal's code, when the variant is wrong


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    from app.main import create_app
    from app.settings import Settings

    with TestClient(create_app(Settings())) as client:
        return dict(client.get("/openapi.json").json())


@pytest.fixture(scope="module")
def api() -> Iterator[TestClient]:
    from app.main import create_app
    from app.settings import Settings

    with TestClient(create_app(Settings())) as client:
        yield client


def _pointer(path: list[str | int]) -> str:
    return "".join(f"/{p}" for p in path)


def _at(request: dict[str, Any], path: list[str | int]) -> Any:
    node: Any = request
    for key in path:
        node = node[key]
    return node


def _with(request: dict[str, Any], path: list[str | int], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(request)
    _at(out, path[:-1])[path[-1]] = value
    return out


def _without(request: dict[str, Any], path: list[str | int]) -> dict[str, Any]:
    out = copy.deepcopy(request)
    del _at(out, path[:-1])[path[-1]]
    return out


class Walk:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.schemas = spec["components"]["schemas"]

    def resolve(self, schema: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        ref = schema.get("$ref", "")
        if ref.startswith(REF):
            name = ref[len(REF) :]
            return self.schemas[name], name
        return schema, None

    def branches(self, schema: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
        """The non-null alternatives of a property's schema, and whether null is one."""
        alternatives = schema.get("anyOf") or schema.get("oneOf")
        if alternatives is None:
            return [schema], False
        nullable = any(alt.get("type") == "null" for alt in alternatives)
        return [alt for alt in alternatives if alt.get("type") != "null"], nullable

    def variants(
        self,
        request: dict[str, Any],
        path: list[str | int],
        schema: dict[str, Any],
        tag: str | None = None,
    ) -> Iterator[Variant]:
        """Variants of `request` around the object at `path`, described by `schema` (a branch
        of a union tagged by the key `tag`: without its tag, an object is another branch)."""
        schema, name = self.resolve(schema)
        if name in ENGINE_OWNED:
            return
        value = _at(request, path)
        here = _pointer(path)
        required = set(schema.get("required", ()))
        for key in sorted(required - {tag}):
            yield Variant(f"{here} without {key}", _without(request, [*path, key]),
                          _pointer([*path, key]), "missing_key")  # fmt: skip
        if schema.get("additionalProperties") is False:
            # A hyperparameter of another optimizer is a wrong value of this one's.
            code = "bad_value" if path[:1] == ["optimizer"] else "unknown_key"
            yield Variant(f"{here} with an unknown key", _with(request, [*path, "bogus_key"], 1),
                          _pointer([*path, "bogus_key"]), code)  # fmt: skip
        names = schema.get("propertyNames", {}).get("pattern")
        if names and value:
            some = next(iter(value.values()))
            yield Variant(f"{here} with a key off its pattern",
                          _with(request, [*path, "1x"], some), _pointer([*path, "1x"]),
                          "bad_name")  # fmt: skip
        for key, prop in schema.get("properties", {}).items():
            yield from self.property_variants(request, [*path, key], prop, key in required)

    def property_variants(
        self, request: dict[str, Any], path: list[str | int], prop: dict[str, Any], required: bool
    ) -> Iterator[Variant]:
        here = _pointer(path)
        present = path[-1] in _at(request, path[:-1])
        alternatives, nullable = self.branches(prop)
        if not required and present:
            yield Variant(f"{here} left out", _without(request, path), here)
        if nullable:
            yield Variant(f"{here} null", _with(request, path, None), here)
        if not present:
            return
        objects = [self.resolve(alt) for alt in alternatives]
        if len(objects) > 1 and all(s.get("type") == "object" for s, _ in objects):
            for sub, _name in objects:  # a tagged union: each branch from its tag alone
                tag = sub["properties"]["name"]["const"]
                tagged = _with(request, path, {"name": tag})
                yield Variant(f"{here} as {tag}", tagged, here)
                yield from self.variants(tagged, path, sub, tag="name")
            return
        sub, name = objects[0]
        if name in ENGINE_OWNED:
            return
        kind = sub.get("type")
        if kind == "object":
            yield Variant(f"{here} not an object", _with(request, path, "text"), here, "bad_value")
            yield from self.variants(request, path, sub)
            return
        choices = sub.get("enum") or ([sub["const"]] if "const" in sub else [])
        for choice in choices:
            yield Variant(f"{here} = {choice!r}", _with(request, path, choice), here)
        if choices:
            yield Variant(f"{here} off its enum", _with(request, path, "not-a-choice"), here,
                          "bad_value")  # fmt: skip
        if kind in ("number", "integer"):
            yield Variant(f"{here} a string", _with(request, path, "1"), here, "bad_value")
            yield Variant(f"{here} a boolean", _with(request, path, True), here, "bad_value")
            if kind == "integer":
                yield Variant(f"{here} a fraction", _with(request, path, 1.5), here, "bad_value")
                integral = float(_at(request, path))  # JSON Schema: 2.0 is an integer
                yield Variant(f"{here} = {integral}", _with(request, path, integral), here)
            for bound, step, inclusive in (("minimum", -1, True), ("maximum", 1, True),
                                           ("exclusiveMinimum", -1, False)):  # fmt: skip
                if bound in sub:
                    limit = sub[bound]
                    if inclusive:
                        yield Variant(f"{here} = {bound}", _with(request, path, limit), here)
                    beyond = limit + step if inclusive else limit
                    yield Variant(f"{here} beyond {bound}", _with(request, path, beyond), here,
                                  "bad_value")  # fmt: skip
        if kind == "boolean":
            yield Variant(f"{here} a number", _with(request, path, 1), here, "bad_value")
        if kind == "string":
            yield Variant(f"{here} a number", _with(request, path, 1), here, "bad_value")
            if "pattern" in sub:
                yield Variant(f"{here} off its pattern", _with(request, path, "1 x"), here,
                              "bad_name")  # fmt: skip
        if kind == "array":
            yield Variant(f"{here} not an array", _with(request, path, "x"), here, "bad_value")
            if sub.get("minItems", 0) > 0:
                yield Variant(f"{here} empty", _with(request, path, []), here, "bad_value")
            items, _ = self.resolve(sub.get("items", {}))
            if "pattern" in items and _at(request, path):
                yield Variant(f"{here}/0 off its pattern", _with(request, [*path, 0], "1 x"),
                              f"{here}/0", "bad_name")  # fmt: skip


def _validator(spec: dict[str, Any], name: str) -> jsonschema.protocols.Validator:
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry = Registry().with_resource(DOC, resource)
    return jsonschema.Draft202012Validator({"$ref": f"{DOC}{REF}{name}"}, registry=registry)


def _request_schema(spec: dict[str, Any], path: str) -> str:
    body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return str(body["$ref"])[len(REF) :]


@pytest.mark.parametrize("path", sorted(BASES))
def test_the_schema_and_the_endpoint_agree(
    spec: dict[str, Any], api: TestClient, path: str
) -> None:
    name = _request_schema(spec, path)
    validator = _validator(spec, name)
    base = BASES[path]
    assert validator.is_valid(base)
    assert api.post(path, json=base).status_code == 200
    variants = list(Walk(spec).variants(base, [], spec["components"]["schemas"][name]))
    assert any(v.pointer.count("/") > 1 for v in variants)  # the walk reached nested options
    disagreements = []
    for variant in variants:
        valid = validator.is_valid(variant.request)
        response = api.post(path, json=variant.request)
        body = response.json()
        if variant.code is None:
            passed = response.status_code == 200 or (
                response.status_code == 422 and body.get("code") not in ENVELOPE_CODES
            )
            agree = valid and passed
        else:
            got = (response.status_code, body.get("code"), body.get("pointer"))
            agree = not valid and got == (422, variant.code, variant.pointer)
        if not agree:
            disagreements.append(f"{variant.what}: schema valid={valid}, endpoint {body}")
    assert not disagreements, "\n".join(disagreements)
