//! `cairn id`.

use reqwest::Method;

use super::Context;

pub async fn run(ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let id = client.json(client.request(Method::GET, "/id")).await?;
    ctx.print(&id, || {
        let mut lines = vec![format!("id:      {}", id["id"].as_str().unwrap_or(""))];
        lines.push(format!("api:     {}", id["api"].as_str().unwrap_or("")));
        lines.push(format!("gateway: {}", id["gateway"].as_str().unwrap_or("")));
        for addr in id["addresses"].as_array().into_iter().flatten() {
            lines.push(format!("addr:    {}", addr.as_str().unwrap_or("")));
        }
        lines.join("\n")
    });
    Ok(())
}
