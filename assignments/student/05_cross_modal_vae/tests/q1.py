OK_FORMAT = True

test = {   'name': 'q1',
    'points': None,
    'suites': [   {   'cases': [   {   'code': '>>> mask = partial_pairing_mask(100, 0.25)\n'
                                               ">>> assert mask['image'].dtype == torch.bool and mask['image'].shape == (100,) and (mask['text'].shape == (100,))\n"
                                               ">>> assert (mask['image'] | mask['text']).all()\n"
                                               ">>> assert (mask['image'] & mask['text']).sum().item() == 25\n",
                                       'hidden': False,
                                       'locked': False,
                                       'points': 1}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
