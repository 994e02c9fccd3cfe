//! Helpers that must behave exactly like Redis 7.0: glob matching, number
//! parsing/formatting (INCRBYFLOAT's long double math), and LCS.

pub mod glob;
pub mod lcs;
pub mod num;
