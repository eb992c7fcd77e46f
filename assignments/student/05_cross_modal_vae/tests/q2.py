OK_FORMAT = True

test = {   'name': 'q2',
    'points': None,
    'suites': [   {   'cases': [   {   'code': '>>> tiny_mask = partial_pairing_mask(64, 0.5)\n'
                                               '>>> tiny_losses = train_vae(small_vae(), images[:64], {k: v[:64] for k, v in tokens.items()}, tiny_mask, epochs=3, batch_size=32)\n'
                                               '>>> assert len(tiny_losses) == 6 and tiny_losses[-1] < tiny_losses[0]\n',
                                       'hidden': False,
                                       'locked': False,
                                       'points': 1}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
