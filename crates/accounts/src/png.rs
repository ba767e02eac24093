//! The small part of PNG that identicons need: encoding and decoding 8-bit RGBA images
//! (colour type 6, not interlaced), with zlib from `miniz_oxide`.

use crate::error::{AccountsError, Result};

/// The 8-byte PNG signature.
const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
/// Bytes per RGBA pixel.
const BPP: usize = 4;
/// Largest image [`decode_rgba`] accepts, in pixels (identicons are 2 500).
const MAX_PIXELS: u64 = 1 << 22;
/// zlib level of [`encode_rgba`] (the best miniz does; the images are tiny).
const ZLIB_LEVEL: u8 = 9;

/// An RGBA image: 8 bits per channel, not premultiplied, rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbaImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 4` bytes, row-major, R, G, B, A.
    pub pixels: Vec<u8>,
}

/// Encodes RGBA pixels (`width * height * 4` bytes) as a PNG: IHDR, one IDAT, IEND; each row
/// with the filter (None or Up) that leaves more zeros.
pub(crate) fn encode_rgba(width: u32, height: u32, pixels: &[u8]) -> Vec<u8> {
    let stride = width as usize * BPP;
    debug_assert_eq!(pixels.len(), stride * height as usize);
    let mut raw = Vec::with_capacity((stride + 1) * height as usize);
    let mut previous: Option<&[u8]> = None;
    for row in pixels.chunks_exact(stride.max(1)).take(height as usize) {
        let up: Option<Vec<u8>> =
            previous.map(|prev| row.iter().zip(prev).map(|(a, b)| a.wrapping_sub(*b)).collect());
        match up {
            Some(up) if zeros(&up) > zeros(row) => {
                raw.push(2);
                raw.extend_from_slice(&up);
            }
            _ => {
                raw.push(0);
                raw.extend_from_slice(row);
            }
        }
        previous = Some(row);
    }
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    // Bit depth 8, colour type 6 (RGBA), deflate, adaptive filtering, no interlace.
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let idat = miniz_oxide::deflate::compress_to_vec_zlib(&raw, ZLIB_LEVEL);
    let mut png = Vec::with_capacity(SIGNATURE.len() + 3 * 12 + ihdr.len() + idat.len());
    png.extend_from_slice(&SIGNATURE);
    write_chunk(&mut png, b"IHDR", &ihdr);
    write_chunk(&mut png, b"IDAT", &idat);
    write_chunk(&mut png, b"IEND", &[]);
    png
}

fn zeros(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == 0).count()
}

/// `length || type || data || CRC-32(type || data)`.
fn write_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
}

/// Decodes a PNG of 8-bit RGBA pixels (colour type 6, not interlaced), any filters, checking
/// chunk CRCs. This is the format of Status identicons (Go's `image/png` writes them so);
/// other PNGs are an [`AccountsError::Png`].
pub fn decode_rgba(png: &[u8]) -> Result<RgbaImage> {
    let mut rest = png.strip_prefix(&SIGNATURE).ok_or(AccountsError::Png("no PNG signature"))?;
    let mut header: Option<(u32, u32)> = None;
    let mut idat = Vec::new();
    loop {
        if rest.len() < 12 {
            return Err(AccountsError::Png("truncated chunk"));
        }
        let len = u32::from_be_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        let kind: [u8; 4] = rest[4..8].try_into().expect("4 bytes");
        if rest.len() - 12 < len {
            return Err(AccountsError::Png("truncated chunk"));
        }
        let data = &rest[8..8 + len];
        let crc = u32::from_be_bytes(rest[8 + len..12 + len].try_into().expect("4 bytes"));
        if crc != crc32(&[&kind, data]) {
            return Err(AccountsError::Png("chunk CRC mismatch"));
        }
        rest = &rest[12 + len..];
        match &kind {
            b"IHDR" => {
                if header.is_some() || data.len() != 13 {
                    return Err(AccountsError::Png("bad IHDR"));
                }
                let width = u32::from_be_bytes(data[..4].try_into().expect("4 bytes"));
                let height = u32::from_be_bytes(data[4..8].try_into().expect("4 bytes"));
                if data[8..] != [8, 6, 0, 0, 0] {
                    return Err(AccountsError::Png("not 8-bit RGBA without interlacing"));
                }
                if width == 0 || height == 0 || u64::from(width) * u64::from(height) > MAX_PIXELS {
                    return Err(AccountsError::Png("image size out of range"));
                }
                header = Some((width, height));
            }
            b"IDAT" => {
                if header.is_none() {
                    return Err(AccountsError::Png("IDAT before IHDR"));
                }
                idat.extend_from_slice(data);
            }
            b"IEND" => break,
            // Ancillary chunks (lowercase first letter) can be skipped; critical ones cannot.
            _ if kind[0].is_ascii_lowercase() => {}
            _ => return Err(AccountsError::Png("unknown critical chunk")),
        }
    }
    let (width, height) = header.ok_or(AccountsError::Png("no IHDR"))?;
    let stride = width as usize * BPP;
    let expected = (stride + 1) * height as usize;
    let raw = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&idat, expected)
        .map_err(|_| AccountsError::Png("bad zlib data"))?;
    if raw.len() != expected {
        return Err(AccountsError::Png("image data has the wrong length"));
    }
    let mut pixels = vec![0u8; stride * height as usize];
    for (y, line) in raw.chunks_exact(stride + 1).enumerate() {
        let (filter, line) = (line[0], &line[1..]);
        let (done, current) = pixels.split_at_mut(y * stride);
        let current = &mut current[..stride];
        let prev = if y == 0 { None } else { Some(&done[(y - 1) * stride..]) };
        for x in 0..stride {
            let a = if x >= BPP { current[x - BPP] } else { 0 };
            let b = prev.map_or(0, |p| p[x]);
            let c = if x >= BPP { prev.map_or(0, |p| p[x - BPP]) } else { 0 };
            let predictor = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => paeth(a, b, c),
                _ => return Err(AccountsError::Png("unknown filter type")),
            };
            current[x] = line[x].wrapping_add(predictor);
        }
    }
    Ok(RgbaImage { width, height, pixels })
}

/// The Paeth predictor (PNG §9.4).
fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) =
        ((p - i16::from(a)).abs(), (p - i16::from(b)).abs(), (p - i16::from(c)).abs());
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

/// CRC-32 (ISO 3309, polynomial 0xEDB88320 reflected) of the concatenation of `parts`.
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for part in parts {
        for &byte in *part {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = (crc >> 1) ^ (0xedb8_8320 & 0u32.wrapping_sub(crc & 1));
            }
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(&[b"123456789"]), 0xcbf4_3926);
        assert_eq!(crc32(&[b"IEND"]), 0xae42_6082);
    }

    #[test]
    fn rejects_other_pngs() {
        assert!(decode_rgba(b"").is_err());
        assert!(decode_rgba(&SIGNATURE).is_err());
        let mut png = encode_rgba(1, 1, &[1, 2, 3, 4]);
        assert_eq!(decode_rgba(&png).unwrap().pixels, [1, 2, 3, 4]);
        let last = png.len() - 1;
        png[last] ^= 1;
        assert!(decode_rgba(&png).is_err());
    }

    proptest! {
        #[test]
        fn round_trips(width in 1u32..12, height in 1u32..12, seed in any::<u64>()) {
            let pixels: Vec<u8> = (0..width * height * 4)
                .map(|i| (seed.rotate_left(i % 64) as u8) & if i % 3 == 0 { 0xff } else { 0x0f })
                .collect();
            let image = decode_rgba(&encode_rgba(width, height, &pixels)).unwrap();
            prop_assert_eq!(image, RgbaImage { width, height, pixels });
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut png = SIGNATURE.to_vec();
            png.extend_from_slice(&bytes);
            let _ = decode_rgba(&png);
        }
    }
}
