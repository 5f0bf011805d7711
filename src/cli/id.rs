//! `cairn id`.

use super::Context;
use crate::api::types::Id;

pub async fn run(ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let id: Id = client.get_json("/id").await?;
    ctx.print(&id, || {
        let mut lines = vec![format!("id:      {}", id.id)];
        lines.push(format!("api:     {}", id.api.as_deref().unwrap_or("")));
        lines.push(format!("gateway: {}", id.gateway.as_deref().unwrap_or("")));
        for addr in &id.addresses {
            lines.push(format!("addr:    {addr}"));
        }
        lines.join("\n")
    })
}
