//! What the projector's integration tests share.

#![allow(dead_code)]

pub mod events;
pub mod logs;
pub mod platform;
