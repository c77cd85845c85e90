"""Errors as Python tooling reads them: the google.rpc.Status a call failed
with (grpcio-status), and its ErrorInfo and BadRequest details."""

import grpc
import pytest
from claimdesk.v1 import claim_pb2, claim_service_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

DOMAIN = "claimdesk.v1"
UNKNOWN_CLAIM = "claims/01ARZ3NDEKTSV4RRFFQ69G5FAV"


def failure(call, *args, **kwargs):
    """The google.rpc.Status that `call` failed with."""
    with pytest.raises(grpc.RpcError) as raised:
        call(*args, timeout=30, **kwargs)
    status = rpc_status.from_call(raised.value)
    assert status is not None, "the error carries a google.rpc.Status"
    return raised.value.code(), status


def detail(status, kind):
    """The one detail of type `kind` in `status`."""
    found = []
    for any_detail in status.details:
        if any_detail.Is(kind.DESCRIPTOR):
            message = kind()
            any_detail.Unpack(message)
            found.append(message)
    assert len(found) == 1, f"one {kind.DESCRIPTOR.full_name} in {status}"
    return found[0]


def test_invalid_evidence_names_every_field_at_fault(stub):
    code, status = failure(
        stub.AddEvidence,
        claim_service_pb2.AddEvidenceRequest(name=UNKNOWN_CLAIM, evidence=claim_pb2.Evidence()),
        metadata=(("x-claimdesk-user", "kim.checker"),),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    info = detail(status, error_details_pb2.ErrorInfo)
    assert (info.domain, info.reason) == (DOMAIN, "INVALID_ARGUMENT")
    bad_request = detail(status, error_details_pb2.BadRequest)
    assert [v.field for v in bad_request.field_violations] == [
        "evidence.url",
        "evidence.source",
        "evidence.stance",
    ]
    assert all(v.description for v in bad_request.field_violations)


def test_an_unknown_claim_is_not_found_with_its_reason(stub):
    code, status = failure(stub.GetClaim, claim_service_pb2.GetClaimRequest(name=UNKNOWN_CLAIM))
    assert code == grpc.StatusCode.NOT_FOUND
    info = detail(status, error_details_pb2.ErrorInfo)
    assert (info.domain, info.reason) == (DOMAIN, "CLAIM_NOT_FOUND")
    assert info.metadata["name"] == UNKNOWN_CLAIM
