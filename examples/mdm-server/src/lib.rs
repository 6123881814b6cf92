#![doc = include_str!("../README.md")]

pub mod admin;
pub mod app;
pub mod command;
pub mod device;
pub mod http;
pub mod identity;
pub mod openapi;
pub mod push;
pub mod service;
pub mod storage;
