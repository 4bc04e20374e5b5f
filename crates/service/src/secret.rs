//! What `PARTNERHUB_SECRET` must be: at least 32 bytes of random-looking material. It keys
//! every invitation token (and the TOTP encryption key), so a guessable one gives an attacker
//! working links from a copy of the database.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// The command that makes a good secret, named in every refusal.
pub const SECRET_GENERATE_COMMAND: &str = "partnerhub secret generate";

/// Accepts base64 (either alphabet, padded or not) or hex of at least 32 bytes, or 43 or more
/// characters of text, when the material does not look like a pattern (few distinct symbols,
/// a repeated period, a run of consecutive symbols). Answers why otherwise.
pub fn check_secret(s: &str) -> Result<(), String> {
    let s = s.trim();
    let decoded = if s.len() >= 64 && s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(s).ok()
    } else {
        [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD].iter().find_map(|e| e.decode(s).ok())
    };
    let long_enough = decoded.as_ref().is_some_and(|d| d.len() >= 32) || s.chars().count() >= 43;
    if !long_enough {
        return Err(format!(
            "PARTNERHUB_SECRET is too short: it needs at least 32 random bytes (base64 or hex), or 43 characters; make one with `{SECRET_GENERATE_COMMAND}`"
        ));
    }
    let hex = s.len() >= 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    // Text that happens to decode (any alphanumeric run of a multiple of 4 is base64) must not
    // be a pattern either; hex text has only 16 symbols, so only its bytes are judged.
    let text_patterned = !hex && looks_patterned(&s.chars().map(u32::from).collect::<Vec<_>>());
    let bytes_patterned =
        decoded.filter(|d| d.len() >= 32).is_some_and(|d| looks_patterned(&d.into_iter().map(u32::from).collect::<Vec<_>>()));
    if text_patterned || bytes_patterned {
        return Err(format!("PARTNERHUB_SECRET is not random enough (it repeats a pattern); make one with `{SECRET_GENERATE_COMMAND}`"));
    }
    Ok(())
}

fn looks_patterned(v: &[u32]) -> bool {
    let mut distinct = v.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    // 32 random bytes have about 30 distinct values, 43 random base64 characters about 30.
    if distinct.len() < 16 {
        return true;
    }
    // A short block repeated ("abcdefgh" x 6).
    if (1..=v.len() / 2).any(|p| v.iter().zip(&v[p..]).all(|(a, b)| a == b)) {
        return true;
    }
    // Mostly consecutive ("abcdefghijklmnopqrstuvwxyz0123456789...").
    let steps = v.windows(2).filter(|w| w[1].abs_diff(w[0]) == 1).count();
    steps * 2 >= v.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_material_passes_and_patterns_do_not() {
        for good in [
            "q3Jx9vL0Pz7Rk4Wm9Ts1Nb6Yc3Hd5Fg2Ae8Ui0Oy4Lk7", // 43 base64url characters: 32 bytes
            "3f1c9a0b7e2d4c6a8b1f0e9d7c5b3a19283746556473829101a2b3c4d5e6f708",
            "crash-test-secret-8Jq2vLx0Pz7Rk4Wm9Ts1Nb6Yc3Hd5Fg",
        ] {
            assert_eq!(check_secret(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "bench",
            "crash-test-secret",
            "test secret, 32 bytes or more, fine",
            &"a".repeat(64),
            &"abcdefgh".repeat(8),
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
            &"0".repeat(64),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ] {
            let e = check_secret(bad).expect_err(bad);
            assert!(e.contains(SECRET_GENERATE_COMMAND), "{e}");
        }
    }
}
