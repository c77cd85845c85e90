"""A claim's review, end to end, with the official grpcio client."""

from claimdesk.v1 import claim_pb2, claim_service_pb2

EDITOR = (("x-claimdesk-user", "ed.morgan"),)
CHECKER = (("x-claimdesk-user", "kim.checker"),)


def test_a_claim_is_submitted_taken_supported_and_verified(stub):
    submitted = stub.SubmitClaim(
        claim_service_pb2.SubmitClaimRequest(
            claim=claim_pb2.Claim(
                statement="The port of Lindell is closed for 48 hours.",
                attribution=claim_pb2.Attribution(
                    source="Harbour Gazette", relayed_from=["Lindell Dockers Union"]
                ),
                story="lindell-port-strike",
                priority=claim_pb2.Claim.PRIORITY_URGENT,
            ),
            request_id="python-example-1",
        ),
        metadata=EDITOR,
        timeout=30,
    )
    assert submitted.name.startswith("claims/")
    assert submitted.state == claim_pb2.Claim.STATE_UNVERIFIED
    assert submitted.label == "unverified (per Harbour Gazette)"

    taken = stub.TakeNextClaim(
        claim_service_pb2.TakeNextClaimRequest(story="lindell-port-strike"),
        metadata=CHECKER,
        timeout=30,
    )
    assert taken.name == submitted.name
    assert taken.state == claim_pb2.Claim.STATE_IN_REVIEW
    assert taken.assignee == "kim.checker"

    supported = stub.AddEvidence(
        claim_service_pb2.AddEvidenceRequest(
            name=taken.name,
            evidence=claim_pb2.Evidence(
                source="Port Lindell Authority",
                stance=claim_pb2.Evidence.STANCE_SUPPORTS,
                url="https://port-lindell.example/notices/berths-closed",
            ),
        ),
        metadata=CHECKER,
        timeout=30,
    )
    assert [e.source for e in supported.evidence] == ["Port Lindell Authority"]

    verified = stub.VerifyClaim(
        claim_service_pb2.VerifyClaimRequest(
            name=taken.name,
            note="The port authority's notice confirms the closure.",
            etag=supported.etag,
        ),
        metadata=CHECKER,
        timeout=30,
    )
    assert verified.state == claim_pb2.Claim.STATE_VERIFIED

    read = stub.GetClaim(claim_service_pb2.GetClaimRequest(name=taken.name), timeout=30)
    assert read.label == "verified"
    assert read.verdict_note == "The port authority's notice confirms the closure."
