//! `GET /api/v1/openapi.json`: the OpenAPI 3 document of the node API.
//!
//! The document is checked in (`openapi.json`) rather than generated: the API's types are
//! plain serde structs, and deriving schemas for every one of them would put a schema crate's
//! attributes on each. Two tests keep it true: every route the `/api/v1` router declares is
//! in the document with its method, and every operation the document lists is answered by
//! the router (not a routing 404 or 405).

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::AppState;

const DOCUMENT: &str = include_str!("openapi.json");

pub fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(document))
}

async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use tower::ServiceExt;

    use super::DOCUMENT;
    use crate::api::{api_router, AppState};
    use crate::clock::Clock;
    use crate::node::{Node, Parts};

    fn document() -> serde_json::Value {
        serde_json::from_str(DOCUMENT).unwrap()
    }

    /// `(method, path)` of every operation in the document.
    fn documented() -> BTreeSet<(String, String)> {
        let doc = document();
        let mut out = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
        out
    }

    /// The body of `fn name` in `source` (up to the first line that is a lone `}`).
    fn function<'a>(source: &'a str, name: &str) -> &'a str {
        let start = source
            .find(&format!("fn {name}("))
            .unwrap_or_else(|| panic!("fn {name} not found"));
        let rest = &source[start..];
        &rest[..rest.find("\n}\n").unwrap_or(rest.len())]
    }

    fn source(module: &str) -> String {
        let path = format!("{}/src/api/{module}.rs", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).unwrap()
    }

    /// Every `(method, path)` the `/api/v1` router declares: the route functions that
    /// `api_router` nests there, read from the sources.
    fn declared() -> BTreeSet<(String, String)> {
        let api = source("mod");
        let api_router = function(&api, "api_router");
        // The `/api/v1` nest alone: from its path to the next nest or route.
        let v1 = &api_router[api_router.find("\"/api/v1\"").unwrap()..];
        let end = [v1.find(".nest("), v1.find(".route(")]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(v1.len());
        let nest = &v1[..end];
        let calls = route_calls(nest);
        let mut out = BTreeSet::new();
        for (module, func) in calls {
            let text = source(&module);
            let body = function(&text, &func);
            for call in body.split(".route(\"").skip(1) {
                let (path, rest) = call.split_once('"').unwrap();
                let path = path.replace("{*", "{");
                let handlers = &rest[..rest.find("\n").unwrap_or(rest.len())];
                for method in ["get", "post", "delete", "put", "patch"] {
                    if handlers.contains(&format!("{method}(")) {
                        out.insert((method.to_uppercase(), path.clone()));
                    }
                }
            }
        }
        assert!(out.len() > 30, "the scan found the routes: {out:?}");
        out
    }

    /// `module::function` pairs called as `module::*routes(` in `text`.
    fn route_calls(text: &str) -> Vec<(String, String)> {
        let sep = "::";
        let mut out = Vec::new();
        for (i, _) in text.match_indices(sep) {
            let module: String = text[..i]
                .chars()
                .rev()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let func: String = text[i + sep.len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if text[i + sep.len() + func.len()..].starts_with('(') && func.contains("routes") {
                out.push((module, func));
            }
        }
        out
    }

    #[test]
    fn every_route_of_the_router_is_in_the_document() {
        let documented = documented();
        let missing: Vec<_> = declared().difference(&documented).cloned().collect();
        assert!(
            missing.is_empty(),
            "routes missing from openapi.json: {missing:?}"
        );
    }

    #[test]
    fn the_document_is_openapi_3_and_its_references_resolve() {
        let doc = document();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for reference in DOCUMENT.split("\"#/components/schemas/").skip(1) {
            let name = &reference[..reference.find('"').unwrap()];
            assert!(schemas.contains_key(name), "{name} is defined");
        }
    }

    #[tokio::test]
    async fn every_documented_operation_is_answered_and_the_document_is_served() {
        let dir = tempfile::tempdir().unwrap();
        let (clock, _) = Clock::manual(1_000_000);
        let mut parts = Parts::in_memory(dir.path(), clock).await.unwrap();
        parts.store =
            crate::blockstore::Store::open(&crate::blockstore::BackendConfig::Memory, None, 0)
                .unwrap();
        let router = api_router(AppState::new(Node::assemble(parts, "token")));
        let cid = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4";
        for (method, path) in documented() {
            let uri = format!("/api/v1{path}")
                .replace("{cid}", cid)
                .replace("{path}", cid)
                .replace("{key}", cid)
                .replace("{id}", "1");
            let request = Request::builder()
                .method(Method::from_bytes(method.as_bytes()).unwrap())
                .uri(&uri)
                .body(Body::empty())
                .unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            let api_error = serde_json::from_slice::<serde_json::Value>(&body)
                .is_ok_and(|v| v["error"].is_string());
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
            assert!(
                status != StatusCode::NOT_FOUND || api_error,
                "{method} {uri} is routed"
            );
        }
        let response = router
            .oneshot(
                Request::get("/api/v1/openapi.json")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "application/json");
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        assert_eq!(&body[..], DOCUMENT.as_bytes());
    }
}
