//! What the projector's integration tests share.

#![allow(dead_code)]

pub mod broker;
pub mod events;
pub mod logs;
