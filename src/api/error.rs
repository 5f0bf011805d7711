//! HTTP errors: a status, a machine-readable reason and a message safe to show.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::blockstore::BlockstoreError;
use crate::content::car::CarError;
use crate::content::ContentError;
use crate::node::NodeError;

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
            Source(_) => return ApiError::internal(&e),
            #[allow(unreachable_patterns)]
            _ => (StatusCode::BAD_REQUEST, "invalid_content"),
        };
        ApiError::new(status, reason, e.to_string())
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::Content(e) => e.into(),
            NodeError::Blockstore(BlockstoreError::Full { .. }) => ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "store_full",
                e.to_string(),
            ),
            NodeError::Blockstore(BlockstoreError::Content(e)) => e.into(),
            NodeError::Car(CarError::Content(e)) => e.into(),
            NodeError::Car(CarError::BlockMismatch(cid)) => ContentError::HashMismatch(cid).into(),
            NodeError::Car(ref car) if car.is_io() => ApiError::internal(&e),
            NodeError::Car(_) => ApiError::bad_request("invalid_car", e.to_string()),
            NodeError::BadRequest(_) => ApiError::bad_request("bad_request", e.to_string()),
            NodeError::Interrupted(_) => ApiError::bad_request("upload_interrupted", e.to_string()),
            other => ApiError::internal(&other),
        }
    }
}
