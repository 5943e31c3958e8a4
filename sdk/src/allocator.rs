//! A plugin's global allocator on wasm32 (feature `allocator`, on by default): Talc, taking
//! the free memory the module starts with before it grows the memory.
//!
//! Rust's default allocator on wasm32 (dlmalloc) takes all its memory by growing the linear
//! memory, never from the free part of what the module starts with. The kernel runs each call
//! in a fresh instance on a pooled memory slot, and a slot whose memory grew during a call has
//! the extra pages made inaccessible again at the next instantiation: two `mprotect`s per call,
//! each interrupting every core to flush its TLB (8 % of a six-plugin checkout's CPU,
//! measured). `pifa plugins build` links a plugin with 4 MiB of memory from the start, so most
//! calls fit in it and the slot is left as it was.
#![allow(unsafe_code, reason = "a global allocator hands out raw memory")]

use core::alloc::Layout;
use core::arch::wasm32;
use core::ptr::NonNull;

use talc::base::binning::Binning;
use talc::base::{CHUNK_UNIT, Talc};
use talc::cell::TalcSyncCell;
use talc::wasm::WasmBinning;

/// A WebAssembly page.
const PAGE: usize = 64 * 1024;

unsafe extern "C" {
    /// Set by the linker: where the heap starts, after the stack and the static data.
    static __heap_base: u8;
}

/// Where Talc gets memory: first the module's initial memory from the heap base to its end,
/// then pages the memory grows by, extending the same heap (they are adjacent).
#[derive(Debug, Default)]
pub struct InitialMemoryFirst {
    /// The end of the heap, once one is claimed.
    end: Option<NonNull<u8>>,
    initial_claimed: bool,
}

impl InitialMemoryFirst {
    pub const fn new() -> InitialMemoryFirst {
        InitialMemoryFirst {
            end: None,
            initial_claimed: false,
        }
    }
}

/// Pages that surely hold `layout` with Talc's bookkeeping around it.
fn pages_for(layout: Layout) -> usize {
    layout
        .size()
        .saturating_add(layout.align())
        .saturating_add(4 * CHUNK_UNIT)
        .div_ceil(PAGE)
}

// SAFETY: it touches nothing but the `talc` it is given (no allocation, no other allocator),
// and claims only memory no one else uses: the heap the linker leaves free, and pages the
// memory just grew by.
unsafe impl talc::source::Source for InitialMemoryFirst {
    fn acquire<B: Binning>(talc: &mut Talc<Self, B>, layout: Layout) -> Result<(), ()> {
        if !talc.source.initial_claimed {
            talc.source.initial_claimed = true;
            let base = (&raw const __heap_base).cast_mut();
            let memory_end = wasm32::memory_size(0).saturating_mul(PAGE);
            let free = memory_end.saturating_sub(base as usize);
            if free > 0 {
                // SAFETY: from the heap base to the memory's end is memory the linker placed
                // nothing in, and this allocator is its only user.
                talc.source.end = unsafe { talc.claim(base, free) };
                if talc.source.end.is_some() {
                    // Talc asks again if this was not enough.
                    return Ok(());
                }
            }
        }
        let pages = pages_for(layout);
        let previous_pages = wasm32::memory_grow(0, pages);
        if previous_pages == usize::MAX {
            return Err(());
        }
        let grown = (previous_pages * PAGE) as *mut u8;
        let grown_bytes = pages * PAGE;
        if let Some(heap_end) = talc.source.end.take()
            && heap_end.as_ptr() == grown
        {
            // SAFETY: the pages right after the heap's end were just added to the memory.
            talc.source.end =
                Some(unsafe { talc.extend(heap_end, grown.wrapping_add(grown_bytes)) });
            return Ok(());
        }
        // SAFETY: pages the memory just grew by; nothing else uses them.
        talc.source.end = unsafe { talc.claim(grown, grown_bytes) };
        Ok(())
    }
}

#[global_allocator]
static ALLOCATOR: TalcSyncCell<InitialMemoryFirst, WasmBinning> =
    TalcSyncCell::new_wasm(InitialMemoryFirst::new());
