//! The web page: one HTML file with its script and style inside, compiled into the binary (no
//! CDN, nothing fetched at run time, no build step). Everything it does goes through the public
//! API, so curl can do the same.

use axum::http::header;
use axum::response::IntoResponse;

const INDEX: &str = include_str!("page/index.html");

pub async fn index() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' blob: data:",
            ),
        ],
        INDEX,
    )
}
