"""Schemathesis hooks: every operation gets the credential its OpenAPI security names.

The resident's session token and the officer's credential come from the environment
(scripts/api-spec-test makes them); a department call gets a fresh client assertion
(RFC 7523, ES256) signed here with the demo department's key from `kluis dev`, because the
vault takes each assertion once. Coach endpoints get the resident's token: their documented
403 is what is checked (there is no coach token without a browser login yet).
"""

import base64
import json
import os
import time
import uuid

import schemathesis
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


DEPARTMENT = "schuldhulpverlening"
with open(os.environ["KLUIS_SPEC_DEPARTMENT_KEY"], encoding="utf-8") as key_file:
    JWK = json.load(key_file)
KEY = ec.derive_private_key(int.from_bytes(b64decode(JWK["d"]), "big"), ec.SECP256R1())


def client_assertion(issuer: str) -> str:
    now = int(time.time())
    header = {"alg": "ES256", "typ": "client-authentication+jwt", "kid": JWK["kid"]}
    claims = {"iss": DEPARTMENT, "sub": DEPARTMENT, "aud": issuer,
              "jti": str(uuid.uuid4()), "iat": now, "exp": now + 60}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    r, s = decode_dss_signature(KEY.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@schemathesis.hook
def before_call(context, case, kwargs):
    path = case.operation.path
    headers = case.headers if case.headers is not None else {}
    issuer = os.environ["KLUIS_SPEC_URL"]
    if path.startswith("/v1/dept/"):
        headers["Client-Assertion"] = client_assertion(issuer)
    elif path.startswith("/v1/officer/"):
        headers["Authorization"] = f"Bearer {os.environ['KLUIS_SPEC_OFFICER']}"
    elif path.startswith("/v1/coach/"):
        headers["Authorization"] = f"Bearer {os.environ['KLUIS_SPEC_RESIDENT']}"
    else:
        headers["Authorization"] = f"Bearer {os.environ['KLUIS_SPEC_RESIDENT']}"
    case.headers = headers
