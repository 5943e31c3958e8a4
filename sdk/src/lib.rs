//! `pifa-sdk`: what a Pifa plugin author depends on, and the payload types the kernel and the
//! plugins share (one definition, both sides). Its typed APIs, the export macro and the test
//! harness arrive with the plugin platform; nothing here is used yet.
