//! `GET /assets/<theme>/<path>.<hash>.<ext>`: a theme's files by their fingerprinted names.
//! A name is a version of the file's content, so the answer may be kept a year and never
//! asked again; a name that is not one of the serving versions' (an old fingerprint, a typo)
//! is not found. Compression is the router's (text, scripts and SVG are gzip'd).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::edge::extract::Path;
use crate::error::ApiError;
use crate::themes::admin::ThemesState;

/// A year, and never revalidated: the name changes with the content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub async fn serve(
    State(state): State<ThemesState>,
    Path((theme, path)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let set = state.themes.current();
    let asset = set
        .themes
        .get(&theme)
        .and_then(|theme| theme.asset(&path))
        .ok_or_else(ApiError::not_found)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)),
        ],
        asset.bytes.clone(),
    )
        .into_response())
}
