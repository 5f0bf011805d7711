//! Kubo's error answers, in one place: the JSON body `{"Message", "Code", "Type": "error"}`
//! of a command that ran and failed, and the plain-text answers of a request that never
//! reached a command.
//!
//! What Kubo (go-ipfs-cmds `http/handler.go`, `http/parse.go`, `http/responseemitter.go`)
//! does, and so what this does:
//! - An unknown command is `404` with the text body `404 page not found` (not JSON).
//! - A request that cannot be parsed into a command (a required `arg` missing, a flag that is
//!   not of its type, a body that is not the multipart it must be) is `400` with the parse
//!   error as plain text.
//! - A method other than `POST` is `405` with the text `405 - Method Not Allowed`.
//! - A command that fails is `500` with the JSON body, `Code` 0 (`ErrNormal`); one that
//!   rejects its input as a client error is `400` with `Code` 1 (`ErrClient`).
//! - A failure after a streamed answer has started goes into the stream: the last line is the
//!   JSON error, then the body is cut (Kubo sets the `X-Stream-Error` trailer; clients see
//!   the cut body either way).
//!
//! The mapping from Cairn's errors ([`ApiError`], and through it [`NodeError`]) is
//! [`From<ApiError>`]: the node's machine-readable reason travels in the message's prefix
//! (`not_found: block ... not found`), so a script can still tell cases apart, and internal
//! details stay hidden exactly as `/api/v1` hides them.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::api::ApiError;
use crate::content::ContentError;
use crate::node::NodeError;

/// go-ipfs-cmds' `ErrorType`: what kind of failure a command reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// `ErrNormal` (0): the command failed for a reason that is not a bug.
    Normal = 0,
    /// `ErrClient` (1): the request was invalid.
    Client = 1,
}

/// How the error is rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    /// A command's error: the JSON body.
    Command(Code),
    /// The request never reached a command: plain text, as Kubo's HTTP layer answers.
    Text,
}

/// An answer of the Kubo RPC API that is not a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KuboError {
    pub status: StatusCode,
    pub message: String,
    shape: Shape,
}

/// The JSON body, field for field as go-ipfs-cmds' `Error.MarshalJSON`.
#[derive(Debug, serde::Serialize)]
struct Body<'a> {
    #[serde(rename = "Message")]
    message: &'a str,
    #[serde(rename = "Code")]
    code: u8,
    #[serde(rename = "Type")]
    kind: &'static str,
}

impl KuboError {
    /// A command that ran and failed: `500`, `Code` 0.
    pub fn command(message: impl Into<String>) -> Self {
        KuboError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
            shape: Shape::Command(Code::Normal),
        }
    }

    /// A command that refused its input: `400`, `Code` 1.
    pub fn client(message: impl Into<String>) -> Self {
        KuboError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            shape: Shape::Command(Code::Client),
        }
    }

    /// A request that could not be parsed into a command: `400`, plain text.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::text(StatusCode::BAD_REQUEST, message)
    }

    /// A required positional argument is missing, in Kubo's words.
    pub fn missing_arg(name: &str) -> Self {
        Self::bad_request(format!("argument {name:?} is required"))
    }

    /// A required file argument (a multipart body) is missing, in Kubo's words.
    pub fn missing_file(name: &str) -> Self {
        Self::bad_request(format!("file argument '{name}' is required"))
    }

    /// No command at this path.
    pub fn not_found() -> Self {
        Self::text(StatusCode::NOT_FOUND, "404 page not found")
    }

    /// A method other than POST.
    pub fn method_not_allowed() -> Self {
        Self::text(StatusCode::METHOD_NOT_ALLOWED, "405 - Method Not Allowed")
    }

    /// A write call without the API token (Kubo's `API.Authorizations` refusal).
    pub fn forbidden(why: &str) -> Self {
        Self::text(StatusCode::FORBIDDEN, format!("403 - Forbidden: {why}"))
    }

    fn text(status: StatusCode, message: impl Into<String>) -> Self {
        KuboError {
            status,
            message: message.into(),
            shape: Shape::Text,
        }
    }

    /// The error as one JSON line of a streamed answer.
    pub fn json_line(&self) -> Bytes {
        let code = match self.shape {
            Shape::Command(code) => code as u8,
            Shape::Text => Code::Normal as u8,
        };
        json_line(&Body {
            message: &self.message,
            code,
            kind: "error",
        })
    }
}

/// `value` as JSON followed by a newline, as Kubo's encoder writes every value.
pub fn json_line<T: serde::Serialize>(value: &T) -> Bytes {
    let mut line = serde_json::to_vec(value).unwrap_or_else(|e| {
        // Serializing plain structs of strings and numbers cannot fail; say so if it did.
        tracing::error!(error = %e, "could not serialize a Kubo RPC answer");
        br#"{"Message":"internal error","Code":2,"Type":"error"}"#.to_vec()
    });
    line.push(b'\n');
    Bytes::from(line)
}

impl IntoResponse for KuboError {
    fn into_response(self) -> Response {
        match self.shape {
            Shape::Text => {
                let mut text = self.message;
                text.push('\n');
                let mut response = (self.status, text).into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                response.headers_mut().insert(
                    "X-Content-Type-Options",
                    HeaderValue::from_static("nosniff"),
                );
                if self.status == StatusCode::METHOD_NOT_ALLOWED {
                    response
                        .headers_mut()
                        .insert(header::ALLOW, HeaderValue::from_static("OPTIONS, POST"));
                }
                response
            }
            Shape::Command(_) => {
                let line = self.json_line();
                let mut response = (self.status, line).into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
            }
        }
    }
}

/// The one mapping from Cairn's HTTP errors. Kubo answers almost every failure of a command
/// with `500`; Cairn's reasons that say the caller's input was malformed keep `400` with
/// `Code` 1, as Kubo's own argument checks do. The reason leads the message.
impl From<ApiError> for KuboError {
    fn from(e: ApiError) -> Self {
        let message = format!("{}: {}", e.reason, e.message);
        match e.reason {
            "malformed_cid" | "unsupported_codec" | "unsupported_hash" | "invalid_option"
            | "bad_path" | "bad_multiaddr" | "bad_multipart" | "empty_upload"
            | "upload_interrupted" => KuboError::client(message),
            _ => KuboError::command(message),
        }
    }
}

impl From<NodeError> for KuboError {
    fn from(e: NodeError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<ContentError> for KuboError {
    fn from(e: ContentError) -> Self {
        ApiError::from(e).into()
    }
}

impl crate::api::auth::Refuse for KuboError {
    fn refuse(why: crate::api::auth::Refusal) -> Self {
        match why {
            crate::api::auth::Refusal::Missing => KuboError::forbidden(
                "this call needs the API token (Authorization: Bearer <token>, or Basic with the token as password; the token is in the data dir's api.token)",
            ),
            crate::api::auth::Refusal::Wrong => KuboError::forbidden("the API token is wrong"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> (StatusCode, String, String) {
        let status = response.status();
        let kind = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, kind, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_command_error_is_kubos_json_body() {
        let (status, kind, text) = body(KuboError::command("it broke").into_response()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(kind, "application/json");
        assert_eq!(
            text,
            "{\"Message\":\"it broke\",\"Code\":0,\"Type\":\"error\"}\n"
        );
        let (status, _, text) = body(KuboError::client("bad cid").into_response()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            text,
            "{\"Message\":\"bad cid\",\"Code\":1,\"Type\":\"error\"}\n"
        );
    }

    #[tokio::test]
    async fn parse_failures_are_plain_text_as_kubos_http_layer_answers() {
        let (status, kind, text) = body(KuboError::not_found().into_response()).await;
        assert_eq!(
            (status, kind.as_str(), text.as_str()),
            (
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "404 page not found\n"
            )
        );
        let (status, _, text) = body(KuboError::missing_arg("key").into_response()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(text, "argument \"key\" is required\n");
        let response = KuboError::method_not_allowed().into_response();
        assert_eq!(response.headers()[header::ALLOW], "OPTIONS, POST");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn cairn_reasons_map_to_kubo_codes_and_internals_stay_hidden() {
        let cid = crate::content::Block::encode(0x55, Default::default(), &b"x"[..]);
        let missing = KuboError::from(ContentError::NotFound(*cid.cid()));
        assert_eq!(missing.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            missing.message.starts_with("not_found: block "),
            "{missing:?}"
        );
        let malformed = KuboError::from(ContentError::MalformedCid {
            input: "zz".into(),
            reason: "bad".into(),
        });
        assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
        assert!(malformed
            .json_line()
            .starts_with(b"{\"Message\":\"malformed_cid"));
        let internal = KuboError::from(NodeError::internal("/secret/db is locked"));
        assert_eq!(internal.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!internal.message.contains("secret"), "{}", internal.message);
    }
}
