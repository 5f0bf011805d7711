use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match cairn::cli::exit::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cairn::cli::init_logging(&cli);
    let json = cli.json;
    cairn::cli::exit::finish(json, cairn::cli::run(cli).await)
}
