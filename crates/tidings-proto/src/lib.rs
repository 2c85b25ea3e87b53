//! NNTP wire format (placeholder, being written).
