//! The facade re-exports each crate, and the prelude names the same items.

use std::any::TypeId;

#[test]
fn modules_are_the_crates() {
    assert_eq!(
        TypeId::of::<tickmem::frame::FrameArena>(),
        TypeId::of::<tickmem_frame::FrameArena>()
    );
    assert_eq!(
        TypeId::of::<tickmem::pool::Pool<u8>>(),
        TypeId::of::<tickmem_pool::Pool<u8>>()
    );
    assert_eq!(
        TypeId::of::<tickmem::scratch::ScratchStats>(),
        TypeId::of::<tickmem_scratch::ScratchStats>()
    );
    assert_eq!(
        TypeId::of::<tickmem::track::AllocStats>(),
        TypeId::of::<tickmem_track::AllocStats>()
    );
    assert_eq!(
        TypeId::of::<tickmem::ecs::MemoryStats>(),
        TypeId::of::<tickmem_ecs::MemoryStats>()
    );
    assert_eq!(tickmem::tracy::ENABLED, tickmem_tracy::ENABLED);
}

#[test]
fn prelude_names_the_same_items() {
    use tickmem::prelude::*;
    assert_eq!(
        TypeId::of::<FrameArena>(),
        TypeId::of::<tickmem_frame::FrameArena>()
    );
    assert_eq!(
        TypeId::of::<Handle<u8>>(),
        TypeId::of::<tickmem_pool::Handle<u8>>()
    );
    assert_eq!(
        TypeId::of::<CountingAlloc>(),
        TypeId::of::<tickmem_track::CountingAlloc>()
    );
    assert_eq!(
        TypeId::of::<TickmemConfig>(),
        TypeId::of::<tickmem_ecs::TickmemConfig>()
    );
}
