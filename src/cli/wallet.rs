//! `cairn wallet`: the node's EVM address and, on a chain-configured node, its native and
//! token balances (`{address, native, token}`).

use super::Context;

pub async fn run(ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let wallet: serde_json::Value = client.get_json("/wallet").await?;
    ctx.print(&wallet, || {
        let text = |key: &str| wallet[key].as_str().unwrap_or("-").to_string();
        match wallet["chain_id"].as_u64() {
            Some(chain) => format!(
                "address {}\nchain {chain} contract {}\nnative {} wei\ntoken {}",
                text("address"),
                text("contract"),
                text("native"),
                text("token")
            ),
            None => format!("address {} (no [chain] configured)", text("address")),
        }
    })
}
