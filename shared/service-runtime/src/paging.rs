//! Pages of list answers (`grants.common.v1.PageRequest`): one rule for page sizes and tokens in every
//! service.

use contracts::common::v1::PageRequest;

use domain_kernel::Rejection;

/// Entries in a page when the caller does not say.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Most entries in one page.
pub const MAX_PAGE_SIZE: usize = 500;

/// A page as the caller asked for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// How many entries, at most.
    pub limit: usize,
    /// The token of the previous page's last entry; `None` for the first page.
    pub token: Option<String>,
}

impl Page {
    /// Checks the request's page: size 0 (the default) to 500.
    pub fn of(request: Option<PageRequest>) -> Result<Page, Rejection> {
        let request = request.unwrap_or_default();
        let limit = match usize::try_from(request.page_size).unwrap_or(usize::MAX) {
            0 => DEFAULT_PAGE_SIZE,
            n if n <= MAX_PAGE_SIZE => n,
            _ => return Err(Rejection::invalid("page.page_size", "must be 0 to 500")),
        };
        Ok(Page { limit, token: (!request.page_token.is_empty()).then_some(request.page_token) })
    }

    /// The token as the log position it was made from (the lists of the command services page by the
    /// position an object was created at).
    pub fn after_position(&self) -> Result<Option<u64>, Rejection> {
        self.token
            .as_deref()
            .map(|token| {
                token
                    .parse::<u64>()
                    .map_err(|_| Rejection::invalid("page.page_token", "must be a token from a previous page"))
            })
            .transpose()
    }

    /// The next page's token for `found`, fetched with one entry more than [`Page::limit`]: the key of the
    /// last entry shown when more follow, else empty.
    pub fn next_token<K: ToString, V>(&self, found: &[(K, V)]) -> String {
        if found.len() > self.limit { found[self.limit - 1].0.to_string() } else { String::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(page_size: u32, page_token: &str) -> Option<PageRequest> {
        Some(PageRequest { page_size, page_token: page_token.into() })
    }

    #[test]
    fn sizes_default_and_cap_and_tokens_are_positions() {
        assert_eq!(Page::of(None).unwrap(), Page { limit: 50, token: None });
        assert_eq!(Page::of(request(500, "")).unwrap().limit, 500);
        assert!(
            matches!(Page::of(request(501, "")), Err(Rejection::Invalid { field, .. }) if field == "page.page_size")
        );
        let page = Page::of(request(2, "17")).unwrap();
        assert_eq!(page.after_position().unwrap(), Some(17));
        assert!(Page::of(request(2, "x")).unwrap().after_position().is_err());
        assert_eq!(page.next_token(&[(3, ()), (9, ()), (12, ())]), "9");
        assert_eq!(page.next_token(&[(3, ()), (9, ())]), "");
    }
}
