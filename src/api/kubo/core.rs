//! `id` and `version`: who this node is, in Kubo's fields.

use axum::extract::State;
use axum::response::Response;
use base64::Engine;
use serde::Serialize;

use super::{json, Args, KuboError};
use crate::api::AppState;

/// `id`'s answer (Kubo's `IdOutput`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdOutput {
    #[serde(rename = "ID")]
    pub id: String,
    /// The libp2p public key, protobuf-encoded, in standard base64 (as Kubo prints it).
    pub public_key: String,
    pub addresses: Vec<String>,
    pub agent_version: String,
    pub protocols: Vec<String>,
}

/// The protocols this node's host answers. gossipsub's (`/meshsub/...`) are left out: the
/// library negotiates several versions and exports no single name for them.
fn protocols() -> Vec<String> {
    use crate::net;
    let mut all = vec![
        net::bitswap::PROTOCOL_1_0_0.to_string(),
        net::bitswap::PROTOCOL_1_1_0.to_string(),
        net::bitswap::PROTOCOL_1_2_0.to_string(),
        net::KAD_PROTOCOL.to_string(),
        libp2p::identify::PROTOCOL_NAME.to_string(),
        libp2p::ping::PROTOCOL_NAME.to_string(),
        net::market::PROTOCOL.to_string(),
        net::pay::PROTOCOL.to_string(),
        net::proof::PROTOCOL.to_string(),
    ];
    all.sort();
    all
}

/// `id [<peer>]`: this node only. Kubo looks other peers up in the DHT; asking about another
/// peer is refused here rather than answered with this node's identity.
pub async fn id(State(state): State<AppState>, args: Args) -> Result<Response, KuboError> {
    let me = state.node.peer_id();
    if let Some(peer) = args.optional_args().first() {
        if peer != &me.to_string() {
            return Err(KuboError::command(format!(
                "looking up peer {peer} is not supported: this node answers `id` for itself only"
            )));
        }
    }
    let public = libp2p::identity::ed25519::PublicKey::try_from_bytes(
        state.node.key().verifying_key().as_bytes(),
    )
    .map_err(|e| KuboError::command(format!("identity key: {e}")))?;
    let public = libp2p::identity::PublicKey::from(public).encode_protobuf();
    let addresses = match state.node.net().running() {
        Some(net) => net
            .listen_addrs()
            .await
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect(),
        None => Vec::new(),
    };
    Ok(json(&IdOutput {
        id: me.to_string(),
        public_key: base64::engine::general_purpose::STANDARD.encode(public),
        addresses,
        agent_version: concat!("cairn/", env!("CARGO_PKG_VERSION")).to_string(),
        protocols: protocols(),
    }))
}

/// What `Repo` (here) and `repo/stat`'s `Version` say: Cairn's data dir has no layout number
/// of its own (Kubo's `fs-repo@16`); it is the version of the software that opened it.
pub const REPO_VERSION: &str = concat!("cairn@", env!("CARGO_PKG_VERSION"));

/// `version`'s answer (Kubo's `VersionOutput`). `Golang` is empty: there is no Go here.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionOutput {
    pub version: String,
    pub commit: String,
    pub repo: String,
    pub system: String,
    pub golang: String,
}

pub async fn version() -> Response {
    json(&VersionOutput {
        version: env!("CARGO_PKG_VERSION").to_string(),
        commit: String::new(),
        repo: REPO_VERSION.to_string(),
        system: format!("{}/{}", std::env::consts::ARCH, std::env::consts::OS),
        golang: String::new(),
    })
}
