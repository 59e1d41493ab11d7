"""Preflight: prove the lake is usable before any crawl writes to it, failing with one line.

Checks, in order: an object can be written (so the bucket exists and the credentials may use
it), and a conditional write (``If-None-Match: *``) is refused when the object exists — publishing
relies on that to never overwrite ``latest.json`` blindly.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlparse

from pipeline.lake import Lake, LakeError, PreconditionFailed

PROBE_PREFIX = "_preflight"


class PreflightError(LakeError):
    """The lake cannot be used; the message is one line meant for the operator."""


def _s3_reason(exc: Exception, lake: Lake) -> str | None:
    """A one-line reason for the usual S3 failures, or None for unexpected ones."""
    try:
        from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
    except ImportError:
        return None
    bucket = urlparse(lake.root).netloc

    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the aws_default connection)"
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach the S3 endpoint: {exc}"
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket", "NotFound"):
            return f"bucket {bucket!r} does not exist"
        if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"):
            return f"access to bucket {bucket!r} denied ({code}): check the credentials"
        return f"S3 error {code} on bucket {bucket!r}"
    return None


def check_lake(lake: Lake) -> str:
    """Run the checks; returns a short summary or raises :class:`PreflightError`."""
    probe = f"{PROBE_PREFIX}/{uuid.uuid4().hex}.probe"
    try:
        lake.write_bytes(probe, b"probe", if_none_match=True)
        try:
            lake.write_bytes(probe, b"again", if_none_match=True)
        except PreconditionFailed:
            pass
        else:
            raise PreflightError(
                f"{lake.root} ignores conditional writes (If-None-Match): releases could not be published safely"
            )
        lake.delete(probe)
    except PreflightError:
        raise
    except OSError as exc:
        raise PreflightError(f"lake {lake.root} is not writable: {exc}") from exc
    except Exception as exc:
        reason = _s3_reason(exc, lake)
        if reason is None:
            raise
        raise PreflightError(f"lake {lake.root}: {reason}") from exc
    return f"lake {lake.root}: reachable, writable, conditional writes supported"
