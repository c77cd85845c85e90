pub mod domain;

pub mod pb {
    tonic::include_proto!("claimdesk.v1");
}
