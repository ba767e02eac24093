//! The identicon of a chat key, as status-go v0.79.11 draws it
//! (`shared/data/identity/ALGORITHMS.md` §b).
//!
//! MD5 of the key's text (`0x04…`, lowercase) gives a mirrored 5×5 grid (a cell is filled when
//! its byte is even) and one pastel colour (HSL hue from `H[13]+H[14]+H[15]`, saturation 0.5,
//! lightness 0.7); filled cells are 6×6 squares on a transparent 50×50 canvas with a 10-pixel
//! margin. Status passes it around as a `data:image/png;base64,` URI.
//!
//! PNG encoders differ, so compare identicons by their pixels ([`Identicon::to_rgba`], or
//! [`crate::png::decode_rgba`] of another client's PNG), not by PNG bytes.

use base64::Engine;
use md5::{Digest, Md5};
use wisp_crypto::PublicKey;

use crate::{
    error::{AccountsError, Result},
    png::{self, RgbaImage},
};

/// Width and height of the image in pixels.
pub const IDENTICON_SIZE: u32 = 50;
/// Cells per row and per column.
pub const IDENTICON_GRID: usize = 5;
/// Side of a cell in pixels.
pub const IDENTICON_CELL: u32 = 6;
/// Transparent margin around the grid in pixels.
pub const IDENTICON_MARGIN: u32 = 10;
/// What status-go puts before the base64 PNG.
pub const DATA_URI_PREFIX: &str = "data:image/png;base64,";
/// HSL saturation of the fill colour.
const SATURATION: f64 = 0.5;
/// HSL lightness of the fill colour.
const LIGHTNESS: f64 = 0.7;

/// An identicon: which cells are filled and their colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identicon {
    cells: [[bool; IDENTICON_GRID]; IDENTICON_GRID],
    color: [u8; 3],
}

impl Identicon {
    /// The identicon of a chat key: of its canonical text, `0x` and the 130 lowercase hex
    /// digits of the uncompressed key (what status-go hashes).
    pub fn for_public_key(key: &PublicKey) -> Self {
        Self::for_text(&format!("0x{}", hex::encode(key.to_uncompressed())))
    }

    /// The identicon of any string, exactly as status-go's `identicon.GenerateBase64` takes it
    /// (upper-case hex, a missing `0x` or the `zQ3…` form each give a different image).
    pub fn for_text(text: &str) -> Self {
        let hash: [u8; 16] = Md5::digest(text.as_bytes()).into();
        let mut cells = [[false; IDENTICON_GRID]; IDENTICON_GRID];
        for (r, row) in cells.iter_mut().enumerate() {
            for (c, cell) in row.iter_mut().enumerate() {
                let m = if c <= 2 { c } else { 4 - c };
                *cell = hash[3 * r + m].is_multiple_of(2);
            }
        }
        let sum = u16::from(hash[13]) + u16::from(hash[14]) + u16::from(hash[15]);
        Self { cells, color: fill_color(sum) }
    }

    /// The 5×5 grid, rows top to bottom; `true` is filled. Columns 3 and 4 mirror 1 and 0.
    pub fn cells(&self) -> [[bool; IDENTICON_GRID]; IDENTICON_GRID] {
        self.cells
    }

    /// The fill colour, RGB (alpha is 255).
    pub fn color(&self) -> [u8; 3] {
        self.color
    }

    /// The 50×50 image: 10 000 bytes of RGBA, row-major; empty pixels are `0,0,0,0`.
    pub fn to_rgba(&self) -> Vec<u8> {
        let size = IDENTICON_SIZE as usize;
        let mut pixels = vec![0u8; size * size * 4];
        let [red, green, blue] = self.color;
        for (r, row) in self.cells.iter().enumerate() {
            for (c, _) in row.iter().enumerate().filter(|(_, filled)| **filled) {
                let x0 = (IDENTICON_MARGIN + IDENTICON_CELL * c as u32) as usize;
                let y0 = (IDENTICON_MARGIN + IDENTICON_CELL * r as u32) as usize;
                for y in y0..y0 + IDENTICON_CELL as usize {
                    for x in x0..x0 + IDENTICON_CELL as usize {
                        let i = (y * size + x) * 4;
                        pixels[i..i + 4].copy_from_slice(&[red, green, blue, 255]);
                    }
                }
            }
        }
        pixels
    }

    /// The image as an [`RgbaImage`].
    pub fn to_image(&self) -> RgbaImage {
        RgbaImage { width: IDENTICON_SIZE, height: IDENTICON_SIZE, pixels: self.to_rgba() }
    }

    /// The image as PNG bytes (8-bit RGBA).
    pub fn to_png(&self) -> Vec<u8> {
        png::encode_rgba(IDENTICON_SIZE, IDENTICON_SIZE, &self.to_rgba())
    }

    /// The PNG as status-go hands it around: `data:image/png;base64,` and standard base64.
    pub fn to_data_uri(&self) -> String {
        let mut uri = String::from(DATA_URI_PREFIX);
        base64::engine::general_purpose::STANDARD.encode_string(self.to_png(), &mut uri);
        uri
    }
}

/// The PNG bytes of a `data:image/png;base64,` URI (status-go's identicon form).
pub fn png_from_data_uri(uri: &str) -> Result<Vec<u8>> {
    let payload =
        uri.strip_prefix(DATA_URI_PREFIX).ok_or(AccountsError::Png("not a PNG data URI"))?;
    base64::engine::general_purpose::STANDARD
        .decode(payload)
        .map_err(|_| AccountsError::Png("data URI payload is not base64"))
}

/// The fill colour for a sum of the last three MD5 bytes (0..=765): hue `sum / 765 × 360`,
/// HSL → RGB as go-colorful v1.0.3, then Go's quantisation `(trunc(v × 65535 + 0.5)) >> 8`.
pub fn fill_color(byte_sum: u16) -> [u8; 3] {
    let hue = (f64::from(byte_sum) / 765.0) * 360.0;
    // Lightness ≥ 0.5 branch of the textbook formula.
    let t1 = LIGHTNESS + SATURATION - LIGHTNESS * SATURATION;
    let t2 = 2.0 * LIGHTNESS - t1;
    let h = hue / 360.0;
    let channel = |mut t: f64| {
        if t < 0.0 {
            t += 1.0;
        }
        if t > 1.0 {
            t -= 1.0;
        }
        let v = if 6.0 * t < 1.0 {
            t2 + (t1 - t2) * 6.0 * t
        } else if 2.0 * t < 1.0 {
            t1
        } else if 3.0 * t < 2.0 {
            t2 + (t1 - t2) * (2.0 / 3.0 - t) * 6.0
        } else {
            t2
        };
        let v16 = (v * 65535.0 + 0.5) as u32;
        (v16 >> 8) as u8
    };
    [channel(h + 1.0 / 3.0), channel(h), channel(h - 1.0 / 3.0)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_culona_grid() {
        // status-go's identicon unit test: MD5("Culona").
        let icon = Identicon::for_text("Culona");
        let grid: Vec<String> = icon
            .cells()
            .iter()
            .map(|row| row.iter().map(|&f| if f { '1' } else { '0' }).collect())
            .collect();
        assert_eq!(grid, ["00100", "10101", "10001", "00000", "01010"]);
        assert_eq!(icon.color(), [140, 217, 201]);
    }

    #[test]
    fn png_decodes_to_the_same_pixels() {
        let icon = Identicon::for_text("Culona");
        let uri = icon.to_data_uri();
        let png = png_from_data_uri(&uri).unwrap();
        assert!(png.len() < 400, "PNG of {} bytes", png.len());
        assert_eq!(png::decode_rgba(&png).unwrap(), icon.to_image());
        assert!(png_from_data_uri("data:image/gif;base64,AAAA").is_err());
    }
}
