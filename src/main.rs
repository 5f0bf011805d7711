use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match cairn::cli::exit::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let json = cli.json;
    // The demo network prints its own summary; its nodes' routine news would drown it.
    let quiet = matches!(cli.command, cairn::cli::Command::Devnet(_));
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
                .unwrap_or_else(|_| if quiet { "warn" } else { "warn,cairn=info" }.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    cairn::cli::exit::finish(json, cairn::cli::run(cli).await)
}
