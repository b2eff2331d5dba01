//! Rampart's YAML configuration model: strict parsing that reports every error with its field path.
