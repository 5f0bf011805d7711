//! HTTP errors: a status, a machine-readable reason and a message safe to show.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::blockstore::BlockstoreError;
use crate::content::car::CarError;
use crate::content::ContentError;
use crate::db::DbError;
use crate::node::{NodeError, Refusal};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub reason: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            reason,
            message: message.into(),
        }
    }

    pub fn bad_request(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason, message)
    }

    fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the node's log",
        )
    }
}

impl super::auth::Refuse for ApiError {
    fn refuse(why: super::auth::Refusal) -> Self {
        let (reason, message) = match why {
            super::auth::Refusal::Missing => (
                "missing_token",
                "this call needs `Authorization: Bearer <token>` (the token is in the data dir's api.token)",
            ),
            super::auth::Refusal::Wrong => ("bad_token", "the API token is wrong"),
        };
        ApiError::new(StatusCode::UNAUTHORIZED, reason, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = super::types::ErrorBody {
            error: self.reason.to_string(),
            message: self.message,
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<ContentError> for ApiError {
    fn from(e: ContentError) -> Self {
        use ContentError::*;
        let (status, reason) = match &e {
            MalformedCid { .. } => (StatusCode::BAD_REQUEST, "malformed_cid"),
            UnsupportedCodec(_) => (StatusCode::BAD_REQUEST, "unsupported_codec"),
            UnsupportedHash(_) => (StatusCode::BAD_REQUEST, "unsupported_hash"),
            InvalidOption(_) => (StatusCode::BAD_REQUEST, "invalid_option"),
            NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            PathNotFound { .. } => (StatusCode::NOT_FOUND, "path_not_found"),
            NotAFile(_) => (StatusCode::BAD_REQUEST, "not_a_file"),
            NotADirectory(_) => (StatusCode::BAD_REQUEST, "not_a_directory"),
            HashMismatch(_) => (StatusCode::UNPROCESSABLE_ENTITY, "hash_mismatch"),
            BlockTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "block_too_large"),
            MalformedNode { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "malformed_node"),
            Corrupt(_) => (StatusCode::INTERNAL_SERVER_ERROR, "corrupt_block"),
            Source(_) => return ApiError::internal(&e),
            StoreUnavailable(_) => return store_unavailable(&e),
            #[allow(unreachable_patterns)]
            _ => (StatusCode::BAD_REQUEST, "invalid_content"),
        };
        ApiError::new(status, reason, e.to_string())
    }
}

/// The one mapping from a node error to an HTTP status and reason.
impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        use StatusCode as S;
        let status = match &e {
            NodeError::Content(_) => return content_error(e),
            NodeError::Blockstore(BlockstoreError::Full { .. }) => S::INSUFFICIENT_STORAGE,
            NodeError::Blockstore(BlockstoreError::Content(_)) => return content_error(e),
            NodeError::Blockstore(
                BlockstoreError::ObjectStore { .. } | BlockstoreError::NoCredentials,
            ) => return store_unavailable(&e),
            NodeError::Car(CarError::Content(_)) => return content_error(e),
            NodeError::Car(CarError::BlockMismatch(cid)) => {
                return ContentError::HashMismatch(*cid).into()
            }
            NodeError::Car(car) if car.is_io() => return ApiError::internal(&e),
            NodeError::Car(_) => S::BAD_REQUEST,
            NodeError::Market(_) | NodeError::Pay(_) | NodeError::Proof(_) => S::BAD_REQUEST,
            NodeError::Policy(_) => S::BAD_REQUEST,
            NodeError::Erasure(e) => match erasure_status(e) {
                Some(status) => status,
                None => return ApiError::internal(&e),
            },
            NodeError::Chain(chain) => chain_status(chain),
            NodeError::Refuse { reason, .. } => refusal_status(*reason),
            // A peer refused what was asked (its reason is in the message); a peer that could
            // not be reached or answered out of turn is an upstream failure.
            NodeError::Refused { .. } => S::BAD_REQUEST,
            NodeError::Protocol { .. } | NodeError::Net(_) => S::BAD_GATEWAY,
            NodeError::Offline => S::SERVICE_UNAVAILABLE,
            NodeError::Interrupted(_) => S::BAD_REQUEST,
            // A u64 the database cannot hold that no entry check caught: the caller's input.
            NodeError::Db(DbError::OutOfRange(_)) => S::BAD_REQUEST,
            NodeError::Piece(_)
            | NodeError::Blockstore(_)
            | NodeError::Db(_)
            | NodeError::Config(_)
            | NodeError::Internal(_) => return ApiError::internal(&e),
        };
        let reason = match &e {
            // Reasons a peer chose are not ours to name: they travel in the message.
            NodeError::Refused { .. } => "rejected",
            other => static_reason(other),
        };
        ApiError::new(status, reason, e.to_string())
    }
}

/// The object storage behind the block store failed: the caller may retry later; the cause
/// (endpoint, key, server answer) goes to the log, not to the caller.
fn store_unavailable(error: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(%error, "object storage failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        "the block store's object storage is unreachable or failing; retry later (nothing of this request was recorded; the node's log has the cause)",
    )
}

fn content_error(e: NodeError) -> ApiError {
    match e {
        NodeError::Content(e)
        | NodeError::Blockstore(BlockstoreError::Content(e))
        | NodeError::Car(CarError::Content(e)) => e.into(),
        other => ApiError::internal(&other),
    }
}

/// A scheme the caller wrote is its fault (400); data that cannot be rebuilt, or stored or
/// fetched slots and manifests that do not match what they claim, are a conflict with what
/// the keep holds (409); a failing codec or disk is ours (`None`: internal).
fn erasure_status(e: &crate::erasure::ErasureError) -> Option<StatusCode> {
    use crate::erasure::ErasureError as E;
    match e {
        E::InvalidScheme { .. } | E::InvalidLayout(_) => Some(StatusCode::BAD_REQUEST),
        E::Io(_) | E::Codec(_) | E::Slot(_) => None,
        _ => Some(StatusCode::CONFLICT),
    }
}

fn refusal_status(reason: Refusal) -> StatusCode {
    match reason {
        Refusal::UnknownChannel
        | Refusal::UnknownDeal
        | Refusal::UnknownKeep
        | Refusal::UnknownPiece => StatusCode::NOT_FOUND,
        Refusal::Busy => StatusCode::TOO_MANY_REQUESTS,
        Refusal::Duplicate => StatusCode::CONFLICT,
        Refusal::WrongChain => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// A chain's answer: a revert is the caller's conflict with the contract's state, a bad
/// argument the caller's fault, a chain that cannot be reached or confirm an upstream failure.
fn chain_status(e: &crate::chain::ChainError) -> StatusCode {
    use crate::chain::ChainError as C;
    match e {
        C::Reverted(_) | C::Failed { .. } => StatusCode::CONFLICT,
        C::Invalid(_) | C::Voucher(_) => StatusCode::BAD_REQUEST,
        C::Unreachable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        C::Unconfirmed { .. } => StatusCode::GATEWAY_TIMEOUT,
        C::Rpc { .. } | C::Unexpected(_) | C::Wallet { .. } | C::Io { .. } => {
            StatusCode::BAD_GATEWAY
        }
    }
}

/// A node error's reason as the `&'static str` an [`ApiError`] carries.
fn static_reason(e: &NodeError) -> &'static str {
    match e {
        NodeError::Market(e) => e.reason(),
        NodeError::Pay(e) => e.reason(),
        NodeError::Proof(e) => e.reason(),
        NodeError::Erasure(e) => e.reason(),
        NodeError::Chain(e) => e.reason(),
        NodeError::Refuse { reason, .. } => reason.as_str(),
        NodeError::Policy(_) => "invalid_policy",
        NodeError::Net(_) => "unreachable",
        NodeError::Offline => "offline",
        NodeError::Protocol { .. } => "protocol",
        NodeError::Interrupted(_) => "upload_interrupted",
        NodeError::Car(_) => "invalid_car",
        NodeError::Blockstore(BlockstoreError::Full { .. }) => "store_full",
        NodeError::Db(DbError::OutOfRange(_)) => "amount_too_large",
        _ => "internal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::MarketError;
    use crate::net::NetError;
    use crate::pay::PayError;

    fn mapped(e: NodeError) -> (StatusCode, &'static str) {
        let api = ApiError::from(e);
        (api.status, api.reason)
    }

    #[test]
    fn each_node_error_has_one_status_and_reason() {
        let peer = libp2p::PeerId::random();
        let cases = [
            (
                NodeError::Offline,
                StatusCode::SERVICE_UNAVAILABLE,
                "offline",
            ),
            (
                NodeError::from(NetError::Stopped),
                StatusCode::SERVICE_UNAVAILABLE,
                "offline",
            ),
            (
                NodeError::from(NetError::Dial("x".into(), "refused".into())),
                StatusCode::BAD_GATEWAY,
                "unreachable",
            ),
            (
                NodeError::Market(MarketError::ClientDenied),
                StatusCode::BAD_REQUEST,
                "client_denied",
            ),
            (
                NodeError::Pay(PayError::ChannelClosed),
                StatusCode::BAD_REQUEST,
                "channel_closed",
            ),
            (
                NodeError::refuse(Refusal::UnknownChannel, "no channel x"),
                StatusCode::NOT_FOUND,
                "unknown_channel",
            ),
            (
                NodeError::refuse(Refusal::Duplicate, "again"),
                StatusCode::CONFLICT,
                "duplicate",
            ),
            (
                NodeError::refuse(Refusal::Busy, "later"),
                StatusCode::TOO_MANY_REQUESTS,
                "busy",
            ),
            (
                NodeError::Refused {
                    peer,
                    reason: "over_capacity".into(),
                    detail: "full".into(),
                },
                StatusCode::BAD_REQUEST,
                "rejected",
            ),
            (
                NodeError::Protocol {
                    peer,
                    what: "nonsense".into(),
                },
                StatusCode::BAD_GATEWAY,
                "protocol",
            ),
            (
                NodeError::Blockstore(BlockstoreError::Full {
                    needed: 2,
                    available: 1,
                }),
                StatusCode::INSUFFICIENT_STORAGE,
                "store_full",
            ),
            (
                NodeError::internal("row 3 is garbage"),
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
            ),
            (
                NodeError::Interrupted("cut".into()),
                StatusCode::BAD_REQUEST,
                "upload_interrupted",
            ),
            (
                NodeError::Erasure("4+0".parse::<crate::erasure::Scheme>().unwrap_err()),
                StatusCode::BAD_REQUEST,
                "invalid_scheme",
            ),
            (
                NodeError::Erasure(crate::erasure::ErasureError::Unrecoverable {
                    have: 3,
                    need: 4,
                    missing: vec![0, 1, 2, 3, 4],
                }),
                StatusCode::CONFLICT,
                "unrecoverable",
            ),
            (
                NodeError::Erasure(crate::erasure::ErasureError::Io("disk".into())),
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
            ),
        ];
        for (error, status, reason) in cases {
            let text = error.to_string();
            assert_eq!(mapped(error), (status, reason), "{text}");
        }
    }

    #[test]
    fn a_peers_reason_stays_in_the_message_and_internals_never_do() {
        let refused = ApiError::from(NodeError::Refused {
            peer: libp2p::PeerId::random(),
            reason: "price_too_low".into(),
            detail: "offered 1".into(),
        });
        assert!(refused.message.contains("price_too_low: offered 1"));
        let internal = ApiError::from(NodeError::internal("/secret/path/cairn.db is locked"));
        assert!(!internal.message.contains("secret"), "{}", internal.message);
    }
}
