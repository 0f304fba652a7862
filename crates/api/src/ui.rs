//! The explorer web UI: a static page, its script, style sheet and offline base map, compiled
//! into the binary and served at `/`. Everything it shows it reads from the documented JSON
//! API (`/v1/…`), as any other client would; it has no server-side rendering and no build step
//! (plain ES modules), so what is in `crates/api/ui/` is exactly what the browser runs.

use axum::{
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};

const INDEX: &str = include_str!("../ui/index.html");
const APP: &str = include_str!("../ui/app.js");
const VIEWS: &str = include_str!("../ui/views.js");
const MAP: &str = include_str!("../ui/map.js");
const STYLE: &str = include_str!("../ui/style.css");
const BASEMAP: &str = include_str!("../ui/basemap.json");

/// The page's client-side routes: each serves the page, whose script renders the view (and a
/// clear "not found" for an unknown id).
const PAGES: &[&str] = &[
    "/",
    "/map",
    "/devices",
    "/devices/{id}",
    "/accounts/{id}",
    "/blocks",
    "/blocks/{id}",
    "/txs/{id}",
    "/epochs",
    "/epochs/{id}",
    "/economy",
    "/storage",
    "/compute",
    "/jobs/{id}",
];

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // The assets change with the binary; revalidation is cheap on loopback.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

pub(crate) fn router() -> Router {
    let mut router = Router::new()
        .route(
            "/ui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP) }),
        )
        .route(
            "/ui/views.js",
            get(|| async { asset("text/javascript; charset=utf-8", VIEWS) }),
        )
        .route(
            "/ui/map.js",
            get(|| async { asset("text/javascript; charset=utf-8", MAP) }),
        )
        .route(
            "/ui/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route("/ui/basemap.json", get(|| async { asset("application/json", BASEMAP) }));
    for path in PAGES {
        router = router.route(path, get(page));
    }
    router
}

/// Whether a request prefers HTML (a browser navigating), so a miss gets a page, not JSON.
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// The 404 a browser gets for a path that is no page: the explorer's own shell, which shows
/// "not found" with links back (the script sees the unknown route).
pub(crate) fn not_found_page() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        INDEX,
    )
        .into_response()
}
