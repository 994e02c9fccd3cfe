//! The Redis serialization protocol: client frames in, replies out.

pub mod encoder;
pub mod parser;

pub use encoder::{Out, Protocol};
pub use parser::{Args, Frame, Limits, OwnedArgs, Parser, ProtocolError};
