//! The full path of an RPC (`package.Service/Method`) as a `&'static str` constant, built from the
//! generated `SERVICE_NAME` so that no service spells its own package twice.

/// `rpc_path!(SERVICE_NAME, "Method")`: `"<SERVICE_NAME>/Method"`, evaluated at compile time.
#[macro_export]
macro_rules! rpc_path {
    ($service:expr, $method:literal) => {{
        const SERVICE: &str = $service;
        const LEN: usize = SERVICE.len() + 1 + $method.len();
        const BYTES: [u8; LEN] = $crate::rpc_path::join::<LEN>(SERVICE, $method);
        const PATH: &str = $crate::rpc_path::as_str(&BYTES);
        PATH
    }};
}

/// `service`, a slash and `method`, as `N` bytes; `N` must be their total length.
#[doc(hidden)]
pub const fn join<const N: usize>(service: &str, method: &str) -> [u8; N] {
    let (service, method) = (service.as_bytes(), method.as_bytes());
    assert!(service.len() + 1 + method.len() == N, "the path's length is the sum of its parts");
    let mut path = [0u8; N];
    let mut i = 0;
    while i < service.len() {
        path[i] = service[i];
        i += 1;
    }
    path[i] = b'/';
    let mut j = 0;
    while j < method.len() {
        path[i + 1 + j] = method[j];
        j += 1;
    }
    path
}

/// The joined bytes as text (they are two `&str`s and an ASCII slash, so always UTF-8).
#[doc(hidden)]
pub const fn as_str(bytes: &'static [u8]) -> &'static str {
    match std::str::from_utf8(bytes) {
        Ok(path) => path,
        Err(_) => panic!("a path joined from two strings is UTF-8"),
    }
}

#[cfg(test)]
mod tests {
    const SERVICE_NAME: &str = "grants.awards.v1.AwardsService";

    #[test]
    fn the_path_is_the_service_a_slash_and_the_method() {
        const PATH: &str = crate::rpc_path!(SERVICE_NAME, "SignAgreement");
        assert_eq!(PATH, "grants.awards.v1.AwardsService/SignAgreement");
        assert_eq!(crate::rpc_path!("pkg.S", "M"), "pkg.S/M");
    }
}
