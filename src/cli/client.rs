//! The CLI's HTTP client for the daemon's API.

use anyhow::{anyhow, bail, Context as _};
use reqwest::{Method, RequestBuilder, Response};

use super::Context;

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// Finds the daemon: `--api` / `$CAIRN_API`, else the data dir's `daemon.json`.
    pub fn connect(ctx: &Context) -> anyhow::Result<Self> {
        let data = ctx.data_dir()?;
        let base = match &ctx.api {
            Some(api) => api.trim_end_matches('/').to_string(),
            None => {
                let info = data.read_daemon_info().ok_or_else(|| {
                    anyhow!(
                        "no daemon running for {} (start one with `cairn daemon`, or pass --api)",
                        data.root().display()
                    )
                })?;
                info.api
            }
        };
        let token = std::env::var("CAIRN_API_TOKEN")
            .ok()
            .or_else(|| data.load_token().ok());
        let http = reqwest::Client::builder()
            .build()
            .context("building the HTTP client")?;
        Ok(Client { http, base, token })
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self
            .http
            .request(method, format!("{}/api/v1{path}", self.base));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// Sends a request and turns an error status into the API's message.
    pub async fn send(&self, builder: RequestBuilder) -> anyhow::Result<Response> {
        let response = builder
            .send()
            .await
            .map_err(|e| anyhow!("cannot reach the daemon at {}: {e}", self.base))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let message = body["message"].as_str().unwrap_or("no details");
        let reason = body["error"].as_str().unwrap_or("error");
        bail!("{message} ({reason}, HTTP {})", status.as_u16())
    }

    pub async fn json(&self, builder: RequestBuilder) -> anyhow::Result<serde_json::Value> {
        Ok(self.send(builder).await?.json().await?)
    }
}
