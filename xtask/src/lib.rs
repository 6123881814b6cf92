//! Shared helpers of the code generators (`xtask` and `xtask-ddm`).

pub mod names;
