//! `claimdesk health`: the standard `grpc.health.v1` check.

use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

use super::{
    connect::ConnectArgs,
    error::{ClientError, EXIT_STATUS_HELP},
    output::{OutputArgs, Printer, emit},
    run,
};

/// `claimdesk health`
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_STATUS_HELP)]
pub struct HealthArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// The service to ask about; the whole server without it.
    #[arg(long, default_value = "")]
    pub service: String,
}

/// Runs `claimdesk health`: prints the status; exit 0 only when SERVING.
pub fn health(args: HealthArgs) -> std::process::ExitCode {
    run(async move {
        let connection = args.connect.connect().await?;
        let printer = Printer::new(args.output.output);
        let answer = connection
            .health()
            .check(HealthCheckRequest {
                service: args.service,
            })
            .await
            .map_err(ClientError::call("Check", &connection.server))?
            .into_inner();
        emit(&printer.health(&answer))?;
        match answer.status() {
            ServingStatus::Serving => Ok(()),
            status => Err(ClientError::NotServing {
                status: status.as_str_name().to_owned(),
            }),
        }
    })
}
