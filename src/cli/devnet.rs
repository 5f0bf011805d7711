//! `cairn devnet`: a local network of real Cairn nodes on 127.0.0.1, each with its own data
//! dir and SQLite database: one client and several providers. The client adds a sample
//! dataset and keeps it with three replicas; challenges and payments run every `--period`;
//! after `--kill-after` one provider holding a replica is stopped and the keeper repairs.
//! A summary line is printed every two seconds; `SIGINT` (Ctrl-C), `SIGTERM`, `--run-for` or
//! a closed stdout (the reader of a pipe went away) stops every node, and a temporary data dir
//! is removed before the command exits.
//!
//! With `--chain`, the nodes settle on a local anvil (127.0.0.1, an OS-picked port): the
//! contract and a test token are deployed, every wallet gets gas, the client gets tokens,
//! deposits are escrowed, providers claim, and the summary shows their token balances.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use clap::Args;
use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;

use super::Context;
use alloy::primitives::U256;

use crate::api::types::Added;
use crate::chain::anvil::NPM_BINARY;
use crate::chain::config::ChainConfig;
use crate::chain::Anvil;
use crate::config::{Config, DataDir};
use crate::keeper::Policy;
use crate::market::state::DealState;
use crate::node::{AskTerms, Daemon, KeepRequest, Node};
use crate::units::parse_duration;

#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// Providers to start beside the client.
    #[arg(long, default_value_t = 4)]
    pub nodes: u32,
    /// Challenge period of every deal (and so how often storage is paid).
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub period: Duration,
    /// Where the nodes' data dirs go (kept); a temporary dir, removed at the end, if unset.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Size of the sample dataset, MiB.
    #[arg(long, default_value_t = 8)]
    pub dataset_mib: u64,
    /// Replicas to keep.
    #[arg(long, default_value_t = 3)]
    pub replicas: u32,
    /// When to stop one provider holding a replica, to show the repair.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub kill_after: Duration,
    /// Stop on its own after this long (default: run until Ctrl-C).
    #[arg(long, value_parser = parse_duration)]
    pub run_for: Option<Duration>,
    /// Settle on a local anvil chain instead of the nodes' ledgers.
    #[arg(long)]
    pub chain: bool,
    /// The anvil binary (default: contracts/evm/node_modules/.bin/anvil under the current
    /// dir if present, else `anvil` on the PATH).
    #[arg(long, value_name = "PATH", requires = "chain")]
    pub anvil: Option<PathBuf>,
    /// With --chain: unclaimed receipts (base units) past which providers claim.
    #[arg(long, default_value_t = 100, requires = "chain")]
    pub claim_threshold: u64,
}

/// Tokens minted to the devnet's client: far more than its deals cost.
const CLIENT_TOKENS: u64 = 1_000_000_000_000;
/// Gas for every devnet wallet: 100 ether.
const GAS_WEI: u128 = 100_000_000_000_000_000_000;

/// Prices that make payments visible on a small dataset and short deals.
const PRICE_PER_GIB_MONTH: u64 = 1_000_000_000;
const RETRIEVAL_PRICE_PER_GIB: u64 = 1_000_000;

pub async fn run(ctx: &Context, args: DevnetArgs) -> anyhow::Result<()> {
    if args.nodes < args.replicas || args.replicas == 0 {
        anyhow::bail!(
            "--nodes ({}) must be at least --replicas ({}), which must be positive",
            args.nodes,
            args.replicas
        );
    }
    let (root, temporary) = match &args.data {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("cairn-devnet-{}", std::process::id())),
            true,
        ),
    };
    let mut stop = super::signals::Stop::install()?;
    let mut net = match Devnet::start(&root, &args).await {
        Ok(net) => net,
        Err(e) => {
            if temporary {
                let _ = std::fs::remove_dir_all(&root);
            }
            return Err(e);
        }
    };
    let pages: Vec<String> = std::iter::once(&net.client)
        .chain(&net.providers)
        .map(|d| format!("{}/", d.info.api))
        .collect();
    let started = serde_json::json!({"event": "started", "data": root,
        "client": net.client.info.api, "status_pages": pages,
        "providers": net.providers.iter().map(|p| p.info.id.clone()).collect::<Vec<_>>()});
    let said = say(ctx, &started, || {
        format!(
            "devnet: 1 client and {} providers under {}\nstatus pages (client first): {}",
            args.nodes,
            root.display(),
            pages.join(" ")
        )
    });
    let outcome = match said {
        Ok(()) => net.watch(ctx, &args, &mut stop).await,
        Err(e) => Err(e.into()),
    };
    net.stop().await;
    if temporary {
        let _ = std::fs::remove_dir_all(&root);
    }
    match outcome {
        // Nobody reads any more (`cairn devnet | head -3`): stopping is all that was left.
        Err(e) if is_closed_pipe(&e) => {
            tracing::info!("stdout closed; devnet stopped");
            Ok(())
        }
        outcome => outcome,
    }
}

/// Prints one event (JSON with `--json`, else the human line). Unlike `println!`, a closed
/// stdout is an error returned, not a panic, so the nodes still stop and the data is removed.
fn say(
    ctx: &Context,
    value: &serde_json::Value,
    human: impl FnOnce() -> String,
) -> std::io::Result<()> {
    use std::io::Write;
    let line = match ctx.json {
        true => value.to_string(),
        false => human(),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush())
}

fn is_closed_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

struct Devnet {
    client: Daemon,
    providers: Vec<Daemon>,
    keep: String,
    /// The local chain with `--chain` (killed when dropped, after the nodes stop).
    chain: Option<DevChain>,
}

/// The devnet's chain: anvil and where the contract is.
struct DevChain {
    anvil: Anvil,
    config: ChainConfig,
}

impl DevChain {
    async fn start(args: &DevnetArgs) -> anyhow::Result<Self> {
        let binary = match &args.anvil {
            Some(path) => path.clone(),
            None if std::path::Path::new(NPM_BINARY).exists() => PathBuf::from(NPM_BINARY),
            None => PathBuf::from("anvil"),
        };
        let anvil = Anvil::start(&binary).await.with_context(|| {
            format!(
                "starting {} (install it with `npm ci` in contracts/evm, or pass --anvil)",
                binary.display()
            )
        })?;
        let deployment = anvil.deployer().deploy(None).await?;
        let mut config = ChainConfig::new(
            anvil.url().to_string(),
            deployment.contract,
            Some(deployment.token),
        );
        config.claim_threshold = args.claim_threshold;
        config.challenge_window = Duration::from_secs(600);
        Ok(DevChain { anvil, config })
    }

    /// Gas for `node`'s wallet, and `tokens` of the test token.
    async fn fund(&self, node: &Node, tokens: u64) -> anyhow::Result<()> {
        let chain = node
            .parts()
            .chain
            .as_ref()
            .ok_or_else(|| anyhow!("a devnet node without [chain]"))?;
        self.anvil
            .fund(chain.address(), U256::from(GAS_WEI))
            .await?;
        if tokens > 0 {
            let channels = self.anvil.deployer().channels(self.config.contract).await?;
            channels.mint(chain.address(), U256::from(tokens)).await?;
        }
        Ok(())
    }
}

async fn start_node(dir: PathBuf, chain: Option<&DevChain>) -> anyhow::Result<Daemon> {
    let data = DataDir::new(dir);
    if !data.is_initialized() {
        let mut config = Config::new(true);
        // Loopback only: the demo network never listens on, or dials, anything else.
        config.swarm.listen = vec![Multiaddr::from(Ipv4Addr::LOCALHOST).with(Protocol::Tcp(0))];
        config.chain = chain.map(|c| c.config.clone());
        data.init(&config)?;
    }
    let daemon = Daemon::start(data).await?;
    if let Some(chain) = chain {
        chain.fund(daemon.node(), 0).await?;
    }
    Ok(daemon)
}

impl Devnet {
    async fn start(root: &std::path::Path, args: &DevnetArgs) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create {}", root.display()))?;
        let chain = match args.chain {
            true => Some(DevChain::start(args).await?),
            false => None,
        };
        let mut providers = Vec::new();
        for i in 0..args.nodes {
            let daemon = start_node(root.join(format!("provider-{i}")), chain.as_ref()).await?;
            daemon
                .node()
                .provider()
                .set_ask_terms(&provider_terms(args.period))
                .await?;
            providers.push(daemon);
        }
        let client = start_node(root.join("client"), chain.as_ref()).await?;
        if let Some(chain) = &chain {
            chain.fund(client.node(), CLIENT_TOKENS).await?;
        }
        let net = client
            .node()
            .net()
            .running()
            .ok_or_else(|| anyhow!("client network not running"))?;
        for provider in &providers {
            let addr = provider
                .info
                .addresses
                .first()
                .ok_or_else(|| anyhow!("provider without address"))?;
            net.dial(addr.parse()?).await?;
        }
        let cid = add_dataset(&client, args.dataset_mib).await?;
        let keep = client
            .node()
            .keeps()
            .create_keep(KeepRequest {
                cid,
                name: Some("devnet sample".into()),
                origins: Vec::new(),
                meta: Default::default(),
                policy: Policy {
                    replicas: args.replicas,
                    duration_secs: 3600,
                    // The demo's providers ask more than the default cap: the client accepts
                    // exactly their price, and no more.
                    max_price_per_gib_month: Some(PRICE_PER_GIB_MONTH),
                    challenge_period_secs: args.period.as_secs().max(1),
                },
            })
            .await?;
        Ok(Devnet {
            client,
            providers,
            keep: keep.id,
            chain,
        })
    }

    /// Prints a summary every two seconds; stops a replica's provider once, after
    /// `kill_after`; returns at `SIGINT` or `SIGTERM`, after `run_for`, or with the error of
    /// a closed stdout.
    async fn watch(
        &mut self,
        ctx: &Context,
        args: &DevnetArgs,
        stop: &mut super::signals::Stop,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut killed = false;
        loop {
            tokio::select! {
                signal = stop.wait() => {
                    tracing::info!(signal, "stopping the devnet");
                    return Ok(());
                }
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
            let mut summary = summary(self.client.node(), &self.providers, &self.keep).await?;
            if let Some(chain) = &self.chain {
                summary["onchain"] = onchain_summary(chain, &self.providers).await;
            }
            say(ctx, &summary, || human_summary(&summary))?;
            if !killed && started.elapsed() >= args.kill_after {
                killed = self.kill_a_replica(ctx).await?;
            }
            if args.run_for.is_some_and(|limit| started.elapsed() >= limit) {
                return Ok(());
            }
        }
    }

    /// Stops one provider with an active deal for the keep.
    async fn kill_a_replica(&mut self, ctx: &Context) -> anyhow::Result<bool> {
        let holders: Vec<String> = self
            .client
            .node()
            .db()
            .list_deals("client", Some(DealState::Active))
            .await?
            .into_iter()
            .map(|d| d.peer)
            .collect();
        let Some(index) = self
            .providers
            .iter()
            .position(|p| holders.contains(&p.info.id))
        else {
            return Ok(false);
        };
        let victim = self.providers.remove(index);
        let id = victim.info.id.clone();
        victim.stop().await;
        say(
            ctx,
            &serde_json::json!({"event": "provider_stopped", "peer": id}),
            || format!("devnet: stopped provider {id}; the keeper should repair"),
        )?;
        Ok(true)
    }

    async fn stop(self) {
        self.client.stop().await;
        for provider in self.providers {
            provider.stop().await;
        }
        // Last: the nodes may still have talked to it while stopping.
        drop(self.chain);
    }
}

fn provider_terms(period: Duration) -> AskTerms {
    AskTerms {
        price_per_gib_month: PRICE_PER_GIB_MONTH,
        retrieval_price_per_gib: RETRIEVAL_PRICE_PER_GIB,
        min_duration_secs: 1,
        max_duration_secs: 365 * 24 * 3600,
        max_piece_size: 1 << 30,
        capacity: 2 << 30,
        min_challenge_period_secs: period.as_secs().max(1),
        ttl_secs: 3600,
        allow: None,
        deny: Vec::new(),
    }
}

/// Adds `mib` MiB of pseudo-random bytes through the client's API; returns the CID.
async fn add_dataset(client: &Daemon, mib: u64) -> anyhow::Result<String> {
    let mut state = 0x2545_F491_4F6C_DD1Du64 ^ u64::from(std::process::id());
    let bytes: Vec<u8> = (0..mib.max(1) << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/add", client.info.api))
        .bearer_auth(client.node().api_token())
        .body(bytes)
        .send()
        .await?
        .error_for_status()?;
    let added: Added = response.json().await?;
    Ok(added.cid)
}

/// Deals, proofs, receipts and balances as the client sees them.
async fn summary(
    client: &Node,
    providers: &[Daemon],
    keep: &str,
) -> anyhow::Result<serde_json::Value> {
    let row = client
        .db()
        .get_keep(keep)
        .await?
        .ok_or_else(|| anyhow!("keep vanished"))?;
    let report = client.keeps().keep_report(row).await?;
    let deals = client.db().list_deals("client", None).await?;
    let count = |state: DealState| deals.iter().filter(|d| d.state == state).count();
    let (passed, failed) = report.providers.iter().fold((0, 0), |(p, f), r| {
        (
            p + r.proofs_passed,
            f + r.proofs_failed + r.proofs_unreachable,
        )
    });
    let channels = client.db().list_channels(Some("payer"), None).await?;
    let receipts: u64 = channels.iter().map(|c| c.seq).sum();
    let spent: u64 = channels.iter().map(|c| c.paid).sum();
    let mut earned = serde_json::Map::new();
    for provider in providers {
        let paid: u64 = provider
            .node()
            .pay()
            .balances()
            .await?
            .iter()
            .map(|b| b.earned)
            .sum();
        earned.insert(provider.info.id.clone(), paid.into());
    }
    Ok(serde_json::json!({
        "event": "summary",
        "keep": {"status": report.keep.status, "healthy": report.keep.healthy,
                 "shortfall": report.keep.shortfall, "replicas": report.keep.policy.replicas},
        "deals": {"active": count(DealState::Active), "accepted": count(DealState::Accepted),
                  "failed": count(DealState::Failed), "cancelled": count(DealState::Cancelled)},
        "proofs": {"passed": passed, "failed": failed},
        "receipts": receipts, "spent": spent, "earned": earned,
        "providers": report.providers.iter().map(|r| serde_json::json!({
            "peer": r.peer, "state": r.state, "paid": r.paid, "score": r.score.value,
        })).collect::<Vec<_>>(),
    }))
}

/// Each provider's token balance on chain (what it claimed), or why it could not be read.
async fn onchain_summary(chain: &DevChain, providers: &[Daemon]) -> serde_json::Value {
    let channels = match chain.anvil.deployer().channels(chain.config.contract).await {
        Ok(channels) => channels,
        Err(e) => return serde_json::json!({"error": e.to_string()}),
    };
    let mut balances = serde_json::Map::new();
    for provider in providers {
        let Some(wallet) = provider.node().parts().chain.as_ref() else {
            continue;
        };
        let balance = match channels.token_balance(wallet.address()).await {
            Ok(balance) => serde_json::Value::String(balance.to_string()),
            Err(e) => serde_json::json!({"error": e.reason()}),
        };
        balances.insert(provider.info.id.clone(), balance);
    }
    serde_json::json!({
        "rpc": chain.anvil.url(),
        "contract": chain.config.contract.to_checksum(None),
        "token_balances": balances,
    })
}

fn human_summary(s: &serde_json::Value) -> String {
    let onchain = s["onchain"]["token_balances"]
        .as_object()
        .map(|b| {
            let values: Vec<String> = b
                .values()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect();
            format!(" | on-chain token balances {}", values.join(" "))
        })
        .unwrap_or_default();
    human_summary_ledger(s) + &onchain
}

fn human_summary_ledger(s: &serde_json::Value) -> String {
    format!(
        "keep {} {}/{} healthy | deals active {} failed {} cancelled {} | proofs passed {} failed {} | receipts {} | client spent {} | providers earned {}",
        s["keep"]["status"].as_str().unwrap_or("?"),
        s["keep"]["healthy"],
        s["keep"]["replicas"],
        s["deals"]["active"],
        s["deals"]["failed"],
        s["deals"]["cancelled"],
        s["proofs"]["passed"],
        s["proofs"]["failed"],
        s["receipts"],
        s["spent"],
        s["earned"]
            .as_object()
            .map(|e| e.values().map(|v| v.to_string()).collect::<Vec<_>>().join(" "))
            .unwrap_or_default(),
    )
}
