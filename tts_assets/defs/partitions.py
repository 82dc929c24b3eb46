import warnings

import dagster as dg

voice_partitions = dg.DynamicPartitionsDefinition(name="voice")
book_partitions = dg.DynamicPartitionsDefinition(name="book")
voice_book_partitions = dg.MultiPartitionsDefinition({"voice": voice_partitions, "book": book_partitions})

with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)
    # A per-voice asset depends on every book of its voice.
    all_books_of_voice = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="voice")
