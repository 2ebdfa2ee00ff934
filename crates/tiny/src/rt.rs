//! The runtime a `#![no_std] #![no_main]` program needs: the `_start`
//! glue (see [`crate::entry!`]), argv/envp, a panic handler, the memory
//! functions the compiler calls, and a `rust_eh_personality` stub (the dev
//! profile unwinds; nothing here ever unwinds).

use core::ffi::CStr;

/// The process's arguments and environment as the kernel gave them.
#[derive(Clone, Copy)]
pub struct Args {
    pub argc: usize,
    pub argv: *const *const u8,
    pub envp: *const *const u8,
}

impl Args {
    /// Argument `i` (None past the end).
    pub fn get(&self, i: usize) -> Option<&'static CStr> {
        if i >= self.argc {
            return None;
        }
        // SAFETY: the kernel put argc valid pointers to NUL-terminated
        // strings at argv, alive for the whole process.
        unsafe { Some(CStr::from_ptr(*self.argv.add(i) as *const core::ffi::c_char)) }
    }

    /// The pointers of the arguments from `i` on, with the closing NULL
    /// (what execve takes as argv).
    pub fn argv_slice_from(&self, i: usize) -> &'static [*const u8] {
        let i = i.min(self.argc);
        // SAFETY: argv[i..=argc] is the kernel's NULL-terminated array, valid
        // for the life of the process.
        unsafe { core::slice::from_raw_parts(self.argv.add(i), self.argc - i + 1) }
    }

    /// The environment's pointers with the closing NULL (what execve takes).
    pub fn envp_slice(&self) -> &'static [*const u8] {
        let mut n = 0;
        // SAFETY: envp is the kernel's NULL-terminated array.
        while !unsafe { *self.envp.add(n) }.is_null() {
            n += 1;
        }
        // SAFETY: envp[0..=n] is valid for the life of the process.
        unsafe { core::slice::from_raw_parts(self.envp, n + 1) }
    }

    /// The value of environment variable `name`.
    pub fn env(&self, name: &[u8]) -> Option<&'static [u8]> {
        let mut i = 0;
        loop {
            // SAFETY: envp is NULL-terminated; each entry a C string.
            let p = unsafe { *self.envp.add(i) };
            if p.is_null() {
                return None;
            }
            // SAFETY: as above.
            let s = unsafe { CStr::from_ptr(p as *const core::ffi::c_char) }.to_bytes();
            if s.len() > name.len() && s.starts_with(name) && s[name.len()] == b'=' {
                return Some(&s[name.len() + 1..]);
            }
            i += 1;
        }
    }
}

/// Called by `_start` with the initial stack pointer.
///
/// # Safety
/// `sp` must be the process's initial stack pointer (argc, argv..., NULL,
/// envp..., NULL).
pub unsafe fn start(sp: *const usize, main: fn(Args) -> i32) -> ! {
    // SAFETY: the System V initial stack layout.
    let args = unsafe {
        let argc = *sp;
        let argv = sp.add(1) as *const *const u8;
        Args {
            argc,
            argv,
            envp: argv.add(argc + 1),
        }
    };
    crate::sys::exit(main(args))
}

/// Defines `_start` calling `$main: fn(tiny::rt::Args) -> i32`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[no_mangle]
        unsafe extern "C" fn __tiny_start_rust(sp: *const usize) -> ! {
            // SAFETY: called from `_start` below with the initial stack.
            unsafe { $crate::rt::start(sp, $main) }
        }
        core::arch::global_asm!(
            ".globl _start",
            "_start:",
            "xor ebp, ebp",
            "mov rdi, rsp",
            "and rsp, -16",
            "call __tiny_start_rust",
            "ud2",
        );
    };
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    let _ = crate::sys::write(2, b"fatal: internal error (panic)\n");
    crate::sys::exit(134)
}

#[no_mangle]
extern "C" fn rust_eh_personality() {}

#[no_mangle]
extern "C" fn _Unwind_Resume() -> ! {
    crate::sys::exit(134)
}

/// # Safety
/// As C's memcpy.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller's regions are valid and do not overlap; rep movsb
    // copies n bytes forward (the direction flag is clear per the ABI).
    unsafe {
        core::arch::asm!(
            "rep movsb",
            inout("rcx") n => _,
            inout("rsi") src => _,
            inout("rdi") dest => _,
            options(nostack, preserves_flags)
        );
    }
    dest
}

/// # Safety
/// As C's memmove.
#[no_mangle]
pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if n == 0 {
        return dest;
    }
    if (dest as usize) <= (src as usize) || (dest as usize) >= (src as usize) + n {
        // SAFETY: a forward copy is correct for these overlaps.
        unsafe { memcpy(dest, src, n) };
    } else {
        // SAFETY: copies backward from the last byte with the direction
        // flag set, and clears it again as the ABI requires.
        unsafe {
            core::arch::asm!(
                "std",
                "rep movsb",
                "cld",
                inout("rcx") n => _,
                inout("rsi") src.add(n - 1) => _,
                inout("rdi") dest.add(n - 1) => _,
                options(nostack)
            );
        }
    }
    dest
}

/// # Safety
/// As C's memset.
#[no_mangle]
pub unsafe extern "C" fn memset(dest: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller's region is valid for n bytes.
    unsafe {
        core::arch::asm!(
            "rep stosb",
            inout("rcx") n => _,
            inout("rdi") dest => _,
            in("al") c as u8,
            options(nostack, preserves_flags)
        );
    }
    dest
}

/// # Safety
/// As C's memcmp.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: both regions are valid for n bytes.
        let (x, y) = unsafe {
            (
                core::ptr::read_volatile(a.add(i)),
                core::ptr::read_volatile(b.add(i)),
            )
        };
        if x != y {
            return x as i32 - y as i32;
        }
        i += 1;
    }
    0
}

/// # Safety
/// As C's bcmp.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract.
    unsafe { memcmp(a, b, n) }
}

/// # Safety
/// As C's strlen: `s` is NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: s is NUL-terminated, so every byte up to the NUL is readable.
    while unsafe { core::ptr::read_volatile(s.add(n)) } != 0 {
        n += 1;
    }
    n
}
