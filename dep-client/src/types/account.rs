//! `GET /account`: the generated [`AccountDetail`], [`AccountUrl`] and [`UrlLimit`] (from
//! `AccountDetail.json`, `Url.json` and `Limit.json`) and their behaviour.

pub use crate::generated::dep::{AccountDetail, Limit as UrlLimit, Url as AccountUrl};

impl AccountDetail {
    /// The page limits Apple announces for a path (such as `/server/devices`).
    pub fn limit_for(&self, uri: &str) -> Option<&UrlLimit> {
        self.urls
            .as_deref()?
            .iter()
            .find(|u| u.uri.as_deref() == Some(uri))
            .and_then(|u| u.limit.as_ref())
    }
}
