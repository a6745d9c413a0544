// Placeholder: the catalogue of broken workflow files is being written.
