//! The CLI's HTTP client for the daemon's API. Answers are read into the API's own types
//! (`api::types`), so a daemon answering in a shape this CLI does not know is an error that
//! names the call, never a blank field.

use anyhow::{anyhow, bail, Context as _};
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::Context;
use crate::api::types::ErrorBody;

/// The daemon refused a call: its status and machine-readable reason travel up to the exit
/// report (`--json` errors carry them).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message} ({reason}, HTTP {status})")]
pub struct ApiFailure {
    pub reason: String,
    pub message: String,
    pub status: u16,
}

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
            None => match data.daemon_file() {
                crate::config::DaemonFile::Running(info) => info.api,
                crate::config::DaemonFile::Absent => bail!(
                    "no daemon running for {} (start one with `cairn daemon`, or pass --api)",
                    data.root().display()
                ),
                crate::config::DaemonFile::Stale(info) => bail!(
                    "no daemon running for {}: its daemon.json was left by pid {}, which \
                     stopped without cleaning up (start one with `cairn daemon`, which \
                     replaces it)",
                    data.root().display(),
                    info.pid
                ),
            },
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
        let body = response.bytes().await.unwrap_or_default();
        if let Ok(e) = serde_json::from_slice::<ErrorBody>(&body) {
            return Err(ApiFailure {
                reason: e.error,
                message: e.message,
                status: status.as_u16(),
            }
            .into());
        }
        // Not the API's error body (a rejection by the HTTP layer, say): its text, if short.
        let text = String::from_utf8_lossy(&body);
        let text = text.trim();
        let details = match text.is_empty() || text.len() > 500 {
            true => "no details",
            false => text,
        };
        bail!("{details} (error, HTTP {})", status.as_u16())
    }

    /// Sends a request and reads its JSON answer as a `T`.
    pub async fn json<T: DeserializeOwned>(&self, builder: RequestBuilder) -> anyhow::Result<T> {
        let response = self.send(builder).await?;
        let url = response.url().path().to_string();
        let body = response
            .bytes()
            .await
            .with_context(|| format!("reading the daemon's answer to {url}"))?;
        serde_json::from_slice(&body)
            .with_context(|| format!("the daemon's answer to {url} is not what this CLI expects"))
    }

    /// `GET /api/v1{path}`, read as a `T`.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.json(self.request(Method::GET, path)).await
    }

    /// `POST /api/v1{path}` with `body` as JSON, the answer read as a `T`.
    pub async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        self.json(self.request(Method::POST, path).json(body)).await
    }

    /// `POST /api/v1{path}` with no body, the answer read as a `T`.
    pub async fn post_empty<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.json(self.request(Method::POST, path)).await
    }

    /// `DELETE /api/v1{path}`, the answer read as a `T`.
    pub async fn delete_json<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.json(self.request(Method::DELETE, path)).await
    }
}
