"""The signature file (`plugin.sig.json`): a manifest of the plugin's files and an ed25519 signature over it.

```json
{"format": "sovereign-plugin-signature/1", "plugin": "blog", "publicKey": "ed25519:...",
 "files": {"plugin.json": "<sha256 hex>", ...}, "links": {"alias.py": "plugin.py"}, "signature": "<base64>"}
```
The signature covers the canonical JSON (sorted keys, no spaces, UTF-8) of every member but `signature`, so the
plugin name, the key and every path, digest and link target are signed. The file is read once, validated (pydantic),
then handled as a frozen `SignedManifest`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from exthost.errors import SignatureError
from exthost.trust.keys import key_id, load_public_key, public_key_text
from exthost.trust.tree import Tree

FORMAT = "sovereign-plugin-signature/1"


class _SignatureFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    format: Literal["sovereign-plugin-signature/1"]
    plugin: str
    publicKey: str
    files: dict[str, str]
    links: dict[str, str] = Field(default_factory=dict)
    signature: str


@dataclass(frozen=True)
class SignedManifest:
    """A signature file as data; `signature` is the raw ed25519 signature."""

    plugin: str
    public_key: str
    files: Mapping[str, str]
    links: Mapping[str, str]
    signature: bytes

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def payload(self) -> bytes:
        """The bytes the signature covers."""
        return canonical_payload(self.plugin, self.public_key, self.files, self.links)

    def signature_holds(self) -> bool:
        """Whether `signature` is the public key's signature of `payload()` (pure computation, no I/O)."""
        try:
            load_public_key(self.public_key).verify(self.signature, self.payload())
        except (InvalidSignature, SignatureError, ValueError):
            return False
        return True

    def dumps(self) -> str:
        document: dict[str, Any] = {
            "format": FORMAT,
            "plugin": self.plugin,
            "publicKey": self.public_key,
            "files": dict(self.files),
            "links": dict(self.links),
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }
        return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def canonical_payload(plugin: str, public_key: str, files: Mapping[str, str], links: Mapping[str, str]) -> bytes:
    document = {"format": FORMAT, "plugin": plugin, "publicKey": public_key, "files": files, "links": links}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign_tree(plugin: str, tree: Tree, private_key: Ed25519PrivateKey) -> SignedManifest:
    """The signed manifest of a walked folder; SignatureError when the walk found something that cannot be signed."""
    if tree.problems:
        raise SignatureError(
            f"plugin {plugin!r} cannot be signed: " + "; ".join(tree.problems) + "; fix these and sign again"
        )
    public = public_key_text(private_key.public_key())
    unsigned = SignedManifest(plugin, public, dict(tree.files), dict(tree.links), b"")
    return SignedManifest(plugin, public, unsigned.files, unsigned.links, private_key.sign(unsigned.payload()))


def parse_signature(text: str, where: str) -> SignedManifest:
    """A signature file's text as a SignedManifest; SignatureError naming `where` and the first bad member."""
    try:
        raw = _SignatureFile.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise SignatureError(f"{where}: not JSON ({exc.msg} at line {exc.lineno})") from exc
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(map(str, first["loc"])) or "(document)"
        raise SignatureError(f"{where}: {field}: {first['msg']}") from exc
    for path, digest in raw.files.items():
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise SignatureError(f"{where}: files.{path}: {digest!r} is not a SHA-256 hex digest")
    try:
        key_id(raw.publicKey)
        signature = base64.b64decode(raw.signature, validate=True)
    except SignatureError as exc:
        raise SignatureError(f"{where}: publicKey: {exc}") from exc
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"{where}: signature: not base64 ({exc})") from exc
    return SignedManifest(raw.plugin, raw.publicKey, raw.files, raw.links, signature)
