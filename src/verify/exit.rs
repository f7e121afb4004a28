//! Exit codes of bt-exec (DESIGN §8): mapped here, in one place, from the
//! decision's typed outcomes.

pub const MISBEHAVIOUR: u8 = 123;
pub const UNREACHABLE: u8 = 124;
pub const CONFIG: u8 = 125;
pub const REFUSED: u8 = 126;
pub const NOT_FOUND: u8 = 127;

/// The worse of two exit codes: a misbehaviour before all, else the higher.
pub fn worse(a: u8, b: u8) -> u8 {
    if a == MISBEHAVIOUR || b == MISBEHAVIOUR {
        MISBEHAVIOUR
    } else {
        a.max(b)
    }
}
