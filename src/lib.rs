pub mod desk;
pub mod domain;
pub mod error;
pub mod storage;

pub mod pb {
    tonic::include_proto!("claimdesk.v1");
}
